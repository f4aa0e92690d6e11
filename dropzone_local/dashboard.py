"""The stack's CloudWatch dashboards, drawn offline from a local run's metrics.

The definitions are the template's own: each `AWS::CloudWatch::Dashboard` the local stack
deploys, its DashboardBody resolved by LocalCloud as CloudFormation would (`LocalStack.
resolved`), saved with the run (`state.save`). Each metric widget's metrics are matched to
the datapoints the run recorded (`metrics`) as CloudWatch matches them, by namespace, name
and the exact set of dimensions, and aggregated with the widget's statistic over its
period. The page is one static HTML file: inline CSS and SVG, no script, nothing fetched.

What a local run cannot know is said, not drawn: a metric with no datapoints shows "no
local data"; metric math and SEARCH expressions are not evaluated; alarm widgets list their
alarms (LocalCloud has no alarms); log widgets show their query (it is not run).
"""

from __future__ import annotations

import json
import math
import re
from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, datetime
from html import escape
from typing import Any

from dropzone_local.metrics import Datapoint

COLOURS = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2")
WIDTH, HEIGHT, PAD = 600, 180, 36


class DashboardError(Exception):
    """A DashboardBody that is not a CloudWatch dashboard body."""


@dataclass(frozen=True)
class Series:
    label: str
    namespace: str
    name: str
    dimensions: tuple[tuple[str, str], ...]
    stat: str
    period: int
    points: tuple[tuple[float, float], ...]  # (period start, epoch seconds; value)


def dashboard_bodies(dashboards: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Dashboard name → parsed body, from the deployed dashboards' resolved properties."""
    bodies = {}
    for logical_id, properties in dashboards.items():
        body = properties.get("DashboardBody")
        try:
            parsed = json.loads(body) if isinstance(body, str) else body
        except json.JSONDecodeError as error:
            raise DashboardError(f"{logical_id}: DashboardBody is not JSON: {error}") from error
        if not isinstance(parsed, dict) or not isinstance(parsed.get("widgets"), list):
            raise DashboardError(f"{logical_id}: DashboardBody has no widgets list")
        bodies[str(properties.get("DashboardName") or logical_id)] = parsed
    return bodies


def metric_rows(metrics: list[Any]) -> list[tuple[list[str], dict[str, Any]]]:
    """Each row of a widget's `metrics`, its "." shorthands filled in from the row before:
    (namespace, name, dimension name, value, ...) and its rendering options."""
    rows: list[tuple[list[str], dict[str, Any]]] = []
    previous: list[str] = []
    for row in metrics:
        options = row[-1] if row and isinstance(row[-1], dict) else {}
        fields = [str(item) for item in (row[:-1] if options else row)]
        fields = [
            previous[i] if item == "." and i < len(previous) else item
            for i, item in enumerate(fields)
        ]
        rows.append((fields, options))
        if fields:
            previous = fields
    return rows


def widget_title(widget: dict[str, Any]) -> str:
    properties = widget.get("properties", {})
    if properties.get("title"):
        return str(properties["title"])
    names = [fields[1] for fields, _ in metric_rows(properties.get("metrics", [])) if fields[1:]]
    return ", ".join(names) or str(widget.get("type", "widget"))


def aggregate(values: list[float], stat: str) -> float:
    """One CloudWatch statistic of a period's values."""
    ordered = sorted(values)
    if stat == "Sum":
        return sum(ordered)
    if stat == "SampleCount":
        return float(len(ordered))
    if stat == "Minimum":
        return ordered[0]
    if stat == "Maximum":
        return ordered[-1]
    percentile = re.fullmatch(r"p(\d+(?:\.\d+)?)", stat)
    if percentile:  # nearest rank
        rank = math.ceil(float(percentile.group(1)) / 100 * len(ordered))
        return ordered[max(rank, 1) - 1]
    return sum(ordered) / len(ordered)  # Average, and any statistic not drawn locally


def series(
    fields: list[str], options: dict[str, Any], widget: dict[str, Any], data: list[Datapoint]
) -> Series:
    """A metric row's datapoints, aggregated per period with the row's statistic."""
    namespace, name, *pairs = fields
    dimensions = tuple(sorted(zip(pairs[0::2], pairs[1::2], strict=False)))
    stat = str(options.get("stat") or widget.get("stat") or "Average")
    period = int(options.get("period") or widget.get("period") or 300)
    buckets: dict[float, list[float]] = defaultdict(list)
    for point in data:
        if (point.namespace, point.name, point.dimensions) == (namespace, name, dimensions):
            seconds = datetime.fromisoformat(point.at).timestamp()
            buckets[seconds - seconds % period].append(point.value)
    label = str(options.get("label") or " ".join([name, *pairs[1::2]]))
    if "stat" in options and "label" not in options:
        label += f" ({stat})"
    points = tuple((start, aggregate(values, stat)) for start, values in sorted(buckets.items()))
    return Series(label, namespace, name, dimensions, stat, period, points)


def render(title: str, note: str, bodies: dict[str, dict[str, Any]], data: list[Datapoint]) -> str:
    """The whole page: every dashboard's widgets, laid out on CloudWatch's 24-column grid."""
    times = [datetime.fromisoformat(point.at).timestamp() for point in data]
    span = (min(times), max(times)) if times else (0.0, 0.0)
    sections = []
    for name, body in bodies.items():
        widgets = "".join(_widget(widget, data, span) for widget in body["widgets"])
        sections.append(
            f'<section class="dashboard"><h1>{escape(name)}</h1>'
            f'<div class="grid">{widgets}</div></section>'
        )
    return (
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
        f"<title>{escape(title)}</title><style>{_CSS}</style></head><body>"
        f'<header><p class="title">{escape(title)}</p><p class="note">{escape(note)}</p>'
        f"</header>{''.join(sections)}</body></html>\n"
    )


def _widget(widget: dict[str, Any], data: list[Datapoint], span: tuple[float, float]) -> str:
    kind = str(widget.get("type", ""))
    properties = widget.get("properties", {})
    width, height = int(widget.get("width", 6)), int(widget.get("height", 6))
    style = f"grid-column:span {width};grid-row:span {height}"  # CloudWatch's flow
    if "x" in widget and "y" in widget:
        x, y = int(widget["x"]), int(widget["y"])
        style = f"grid-column:{x + 1} / span {width};grid-row:{y + 1} / span {height}"
    if kind == "metric":
        inner = _metric_widget(properties, data, span)
    elif kind == "text":
        inner = _markdown(str(properties.get("markdown", "")))
    elif kind == "alarm":
        alarms = [str(arn).rsplit(":", 1)[-1] for arn in properties.get("alarms", [])]
        items = "".join(f"<li>{escape(alarm)}</li>" for alarm in alarms)
        inner = f'<ul class="alarms">{items}</ul><p class="nodata">no alarm states locally</p>'
    elif kind == "log":
        query = escape(str(properties.get("query", "")))
        inner = f'<pre class="query">{query}</pre><p class="nodata">queries are not run locally</p>'
    else:
        inner = f'<p class="nodata">a {escape(kind)} widget is not drawn locally</p>'
    heading = "" if kind == "text" else f"<h2>{escape(widget_title(widget))}</h2>"
    return f'<div class="widget {escape(kind)}" style="{style}">{heading}{inner}</div>'


def _metric_widget(
    properties: dict[str, Any], data: list[Datapoint], span: tuple[float, float]
) -> str:
    drawn: list[Series] = []
    notes = []
    for fields, options in metric_rows(properties.get("metrics", [])):
        if options.get("expression"):
            label = options.get("label") or options["expression"]
            notes.append(f"{label}: expression not evaluated locally")
        elif len(fields) >= 2 and options.get("visible", True):
            drawn.append(series(fields, options, properties, data))
    legend = "".join(_legend(item, COLOURS[i % len(COLOURS)]) for i, item in enumerate(drawn))
    chart = _chart(drawn, span, properties.get("annotations", {}).get("horizontal", []))
    if properties.get("view") == "singleValue":
        chart = "".join(_single(item) for item in drawn) + chart
    extra = "".join(f'<p class="nodata">{escape(note)}</p>' for note in notes)
    return f'{chart}<ul class="legend">{legend}</ul>{extra}'


def _single(item: Series) -> str:
    values = [value for _, value in item.points]
    shown = _number(aggregate(values, item.stat)) if values else "no local data"
    return f'<p class="single"><span>{escape(item.label)}</span> {shown}</p>'


def _legend(item: Series, colour: str) -> str:
    count = len(item.points)
    status = "no local data"
    if count:  # the run's figure beside its statistic: readable without hovering
        run = _number(aggregate([value for _, value in item.points], item.stat))
        status = f"{item.stat}, {item.period}s; over the run: {run}"
    return (
        f'<li data-metric="{escape(item.namespace)}/{escape(item.name)}" data-points="{count}">'
        f'<span class="swatch" style="background:{colour}"></span>{escape(item.label)} '
        f'<span class="stat">({status})</span></li>'
    )


def _chart(drawn: list[Series], span: tuple[float, float], lines: list[Any]) -> str:
    values = [value for item in drawn for _, value in item.points]
    values += [float(line.get("value", 0)) for line in lines if isinstance(line, dict)]
    top = _ceiling(max(values, default=0.0))
    starts = [seconds for item in drawn for seconds, _ in item.points]
    start, end = min([span[0], *starts]), max([span[1], *starts])
    wide = max(end - start, 1.0)

    def x(seconds: float) -> float:
        return PAD + (seconds - start) / wide * (WIDTH - 2 * PAD) if end > start else WIDTH / 2

    def y(value: float) -> float:
        return HEIGHT - PAD / 2 - value / top * (HEIGHT - PAD)

    parts = [
        f'<line class="axis" x1="{PAD}" y1="{y(0):.1f}" x2="{WIDTH - PAD}" y2="{y(0):.1f}"/>',
        f'<text x="2" y="{y(top) + 4:.1f}">{_number(top)}</text>',
        f'<text x="2" y="{y(0) + 4:.1f}">0</text>',
    ]
    if end > start:
        for seconds, anchor in ((start, "start"), (end, "end")):
            label = datetime.fromtimestamp(seconds, UTC).strftime("%H:%M UTC")
            parts.append(
                f'<text x="{x(seconds):.1f}" y="{HEIGHT - 2}" text-anchor="{anchor}">{label}</text>'
            )
    for line in lines:
        if isinstance(line, dict) and "value" in line:
            level = y(float(line["value"]))
            parts.append(
                f'<line class="annotation" x1="{PAD}" y1="{level:.1f}" x2="{WIDTH - PAD}" '
                f'y2="{level:.1f}"><title>{escape(str(line.get("label", "")))}</title></line>'
            )
    for index, item in enumerate(drawn):
        colour = COLOURS[index % len(COLOURS)]
        coordinates = [(x(seconds), y(value)) for seconds, value in item.points]
        polyline = " ".join(f"{cx:.1f},{cy:.1f}" for cx, cy in coordinates)
        dots = "".join(
            f'<circle class="point" cx="{cx:.1f}" cy="{cy:.1f}" r="3" fill="{colour}">'
            f"<title>{escape(item.label)}: {_number(value)}</title></circle>"
            for (cx, cy), (_, value) in zip(coordinates, item.points, strict=True)
        )
        parts.append(
            f'<g class="series" data-label="{escape(item.label)}">'
            f'<polyline points="{polyline}" fill="none" stroke="{colour}"/>{dots}</g>'
        )
    return (
        f'<svg class="chart" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" '
        f'xmlns="http://www.w3.org/2000/svg">{"".join(parts)}</svg>'
    )


def _ceiling(value: float) -> float:
    """A round top for the y axis, at or above `value`."""
    if value <= 0:
        return 1.0
    step = 10.0 ** math.floor(math.log10(value))
    return next(step * m for m in (1, 2, 5, 10) if step * m >= value)


def _number(value: float) -> str:
    return f"{value:,.0f}" if value == int(value) else f"{value:,.2f}"


def _markdown(text: str) -> str:
    """Headings and paragraphs of a text widget; links keep their text only."""
    html = []
    for line in text.splitlines():
        line = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", line).strip()
        heading = re.match(r"(#{1,6})\s+(.*)", line)
        if heading:
            level = min(len(heading.group(1)) + 1, 6)
            html.append(f"<h{level}>{escape(heading.group(2))}</h{level}>")
        elif line:
            html.append(f"<p>{escape(line)}</p>")
    return "".join(html)


_CSS = (
    "body{font:14px system-ui,sans-serif;margin:16px;color:#16191f;background:#f2f3f3}"
    ".note{color:#545b64}.title{font-size:20px;margin:0}"
    ".grid{display:grid;grid-template-columns:repeat(24,1fr);grid-auto-rows:minmax(44px,auto);"
    "gap:8px}"
    ".widget{background:#fff;border:1px solid #d5dbdb;padding:8px;overflow:visible}"
    ".widget h2{font-size:14px;margin:0 0 4px}.chart{width:100%;height:auto;max-height:70%}"
    ".chart text{font-size:11px;fill:#545b64}.axis{stroke:#aab7b8}"
    ".annotation{stroke:#d13212;stroke-dasharray:4 3}.legend{list-style:none;padding:0;"
    "margin:4px 0;font-size:12px}.legend li{display:inline-block;margin-right:12px}"
    ".swatch{display:inline-block;width:10px;height:10px;margin-right:4px}"
    ".stat,.nodata{color:#687078;font-size:12px}.single{font-size:22px;margin:2px 0}"
    ".single span{font-size:12px;color:#545b64}"
)
