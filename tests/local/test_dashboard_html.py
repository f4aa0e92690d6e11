"""The offline dashboard: LocalCloud records the metrics the functions emit, and
`dropzone dashboard --local --html FILE` draws the dashboards the templates deploy from
them, as a static page that headless Chromium renders."""

from __future__ import annotations

import io
import json
import os
import shutil
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest

from dropzone_cli.common import CliError
from dropzone_cli.dashboard import show_dashboard
from dropzone_local import state
from dropzone_local.cloud import LocalCloud
from dropzone_local.dashboard import aggregate, dashboard_bodies, metric_rows, render
from dropzone_local.metrics import Datapoint, MetricsRecorder, capture, emf_datapoints
from dropzone_local.template import TEMPLATE_PATH, load_template, resources_of_type

ROOT = Path(__file__).resolve().parents[2]
QUIET = {"POWERTOOLS_LOG_LEVEL": "CRITICAL", "POWERTOOLS_METRICS_DISABLED": "true"}
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
# The metrics this run is sure to emit, each with the dimensions a dashboard charts it by.
EMITTED = [
    ("JobsAccepted", (("service", "sagemaker-submit"),)),
    ("JobsRejected", (("service", "sagemaker-submit"),)),
    ("JobsSubmitted", (("service", "sagemaker-submit"),)),
    ("JobsSucceeded", (("kind", "sagemaker_async"), ("service", "status-publisher"))),
    ("StatusEventsPublished", (("service", "status-publisher"),)),
]


@pytest.fixture(scope="module")
def saved(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A local run with metrics switched off in the functions' environment, as the demo
    runs: one SageMaker job succeeds, one is rejected, and half an hour of schedules pass."""
    directory = tmp_path_factory.mktemp("state")
    with LocalCloud(function_environment=QUIET) as cloud:
        cloud.add_endpoint("churn-model")
        cloud.put_object("sagemaker-async/churn-model/in.json", b'{"x": 1}')
        cloud.put_object("sagemaker-async/churn-model/empty.json", b"")
        cloud.run_until_idle()
        cloud.advance(timedelta(minutes=30))
        state.save(cloud, directory)
    return directory


# -- what LocalCloud records -----------------------------------------------------------------


def test_the_run_records_what_its_functions_emit_with_metrics_switched_off(saved: Path) -> None:
    recorded = state.load(saved).metrics
    custom = {(p.name, p.dimensions) for p in recorded if p.namespace == "Dropzone/dropzone-local"}
    assert [metric for metric in EMITTED if metric not in custom] == []
    accepted = [p.value for p in recorded if p.name == "JobsAccepted"]
    assert sum(accepted) == 2


def test_the_run_records_invocations_and_queue_depths(saved: Path) -> None:
    recorded = state.load(saved).metrics
    submit = (("FunctionName", "dropzone-local-SageMakerSubmitFunction"),)
    lambda_names = {
        p.name for p in recorded if p.namespace == "AWS/Lambda" and p.dimensions == submit
    }
    assert lambda_names == {"Invocations", "Errors", "Throttles", "Duration"}
    depths = {
        dict(p.dimensions)["QueueName"]
        for p in recorded
        if (p.namespace, p.name) == ("AWS/SQS", "ApproximateNumberOfMessagesVisible")
    }
    assert {"dropzone-local-SageMakerSubmitQueue", "dropzone-local-SageMakerSubmitDLQ"} <= depths
    assert "dropzone-local-status-observer" not in depths  # LocalCloud's own queue


def test_emf_lines_are_recorded_and_kept_off_a_quiet_terminal() -> None:
    recorder, terminal = MetricsRecorder(), io.StringIO()
    document = {
        "_aws": {
            "Timestamp": 0,
            "CloudWatchMetrics": [
                {"Namespace": "N", "Dimensions": [["service"]], "Metrics": [{"Name": "M"}]}
            ],
        },
        "service": "s",
        "M": [1.0, 2.0],
    }
    sys_stdout = sys.stdout
    sys.stdout = terminal
    try:
        with capture(recorder, echo=False):
            print(json.dumps(document))
            print("an ordinary line")
    finally:
        sys.stdout = sys_stdout
    assert terminal.getvalue() == "an ordinary line\n"
    assert [(p.name, p.dimensions, p.value) for p in recorder.datapoints] == [
        ("M", (("service", "s"),), 1.0),
        ("M", (("service", "s"),), 2.0),
    ]


def test_an_emf_document_yields_a_datapoint_per_dimension_set_and_value() -> None:
    document = {
        "_aws": {
            "CloudWatchMetrics": [
                {
                    "Namespace": "N",
                    "Dimensions": [["service"], ["service", "kind"]],
                    "Metrics": [{"Name": "M", "Unit": "Count"}],
                }
            ]
        },
        "service": "s",
        "kind": "k",
        "M": 3,
    }
    found = emf_datapoints(document, datetime(2025, 1, 1, tzinfo=UTC))
    assert [p.dimensions for p in found] == [(("service", "s"),), (("kind", "k"), ("service", "s"))]
    assert emf_datapoints({"level": "INFO", "message": "a log line"}, datetime.now(UTC)) == []


# -- the definitions and the drawing ---------------------------------------------------------


def test_the_saved_dashboards_are_the_templates_own(saved: Path) -> None:
    """One per deployed stack (the core and every enabled workflow), resolved."""
    template = load_template(TEMPLATE_PATH)
    declared = resources_of_type(template, "AWS::CloudWatch::Dashboard")
    assert declared, "the templates declare no AWS::CloudWatch::Dashboard"
    dashboards = state.load(saved).dashboards
    assert sorted(dashboards) == sorted(declared)
    bodies = dashboard_bodies(dashboards)
    assert "dropzone-local-us-east-1-core" in bodies
    assert "${" not in json.dumps(bodies)


def test_metric_rows_fill_in_the_dot_shorthand() -> None:
    rows = metric_rows(
        [["N", "A", "service", "x"], [".", "B", ".", "."], ["N", "C", {"stat": "Sum"}]]
    )
    assert rows == [
        (["N", "A", "service", "x"], {}),
        (["N", "B", "service", "x"], {}),
        (["N", "C"], {"stat": "Sum"}),
    ]


@pytest.mark.parametrize(
    ("stat", "expected"),
    [
        ("Sum", 10.0),
        ("Average", 2.5),
        ("Minimum", 1.0),
        ("Maximum", 4.0),
        ("SampleCount", 4.0),
        ("p50", 2.0),
    ],
)
def test_statistics(stat: str, expected: float) -> None:
    assert aggregate([4.0, 1.0, 3.0, 2.0], stat) == expected


def test_a_metric_without_local_data_says_so() -> None:
    widget = {
        "type": "metric",
        "properties": {"title": "T", "metrics": [["N", "Absent"], [{"expression": "m1*2"}]]},
    }
    point = Datapoint("N", "Other", (), 1.0, "Count", "2025-01-01T00:00:00.000Z")
    page = render("t", "n", {"d": {"widgets": [widget]}}, [point])
    assert 'data-points="0"' in page and "no local data" in page
    assert "expression not evaluated locally" in page
    assert 'class="point"' not in page


def test_a_run_saved_without_dashboards_is_a_clear_error(saved: Path, tmp_path: Path) -> None:
    document = json.loads((saved / state.STATE_FILE).read_text(encoding="utf-8"))
    document["dashboards"] = {}
    (tmp_path / state.STATE_FILE).write_text(json.dumps(document), encoding="utf-8")
    with pytest.raises(CliError, match="has no dashboard"):
        show_dashboard(tmp_path, tmp_path / "page.html")
    with pytest.raises(CliError, match="no saved local state"):
        show_dashboard(tmp_path / "nothing", tmp_path / "page.html")


# -- in headless Chromium --------------------------------------------------------------------


class _Widgets(HTMLParser):
    """Each widget of a rendered page: its title, its chart's points, its legend."""

    def __init__(self) -> None:
        super().__init__()
        self.widgets: list[dict[str, Any]] = []
        self._in_title = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = dict(attrs)
        classes = (attributes.get("class") or "").split()
        if tag == "div" and "widget" in classes:
            self.widgets.append({"title": "", "points": 0, "svg": 0, "legend": {}})
        elif not self.widgets:
            return
        elif tag == "h2":
            self._in_title = True
        elif tag == "svg":
            self.widgets[-1]["svg"] += 1
        elif tag == "circle" and "point" in classes:
            self.widgets[-1]["points"] += 1
        elif tag == "li" and attributes.get("data-metric"):
            legend = self.widgets[-1]["legend"]
            legend[len(legend)] = int(attributes.get("data-points") or 0)

    def handle_endtag(self, tag: str) -> None:
        if tag == "h2":
            self._in_title = False

    def handle_data(self, data: str) -> None:
        if self._in_title:
            self.widgets[-1]["title"] += data


def test_the_page_renders_in_headless_chromium(saved: Path, tmp_path: Path) -> None:
    if CHROMIUM is None:
        message = (
            "chromium is absent: install the distribution's chromium package "
            "(scripts/install_system_packages.sh, run by `make setup`) to render the dashboard"
        )
        if os.environ.get("CI") == "true":
            pytest.fail(f"{message}; CI must install it")
        pytest.skip(message)
    page = tmp_path / "dashboard.html"
    written = subprocess.run(
        [
            sys.executable,
            "-m",
            "dropzone_cli",
            "dashboard",
            "--local",
            "--state-dir",
            str(saved),
            "--html",
            str(page),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert written.returncode == 0, written.stderr
    chromium = [
        CHROMIUM,
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        f"--user-data-dir={tmp_path / 'profile'}",
    ]
    dumped = subprocess.run(
        [*chromium, "--dump-dom", page.as_uri()],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert dumped.returncode == 0, dumped.stderr[-2000:]
    shot = tmp_path / "dashboard.png"
    painted = subprocess.run(
        [*chromium, "--window-size=1400,2000", f"--screenshot={shot}", page.as_uri()],
        capture_output=True,
        timeout=120,
        check=False,
    )
    assert painted.returncode == 0 and shot.read_bytes().startswith(b"\x89PNG")

    parser = _Widgets()
    parser.feed(dumped.stdout)
    saved_state = state.load(saved)
    bodies = dashboard_bodies(saved_state.dashboards)
    declared = [widget for body in bodies.values() for widget in body["widgets"]]
    assert len(parser.widgets) == len(declared)
    titles = [widget["properties"]["title"] for widget in declared]
    assert [widget["title"] for widget in parser.widgets] == titles
    recorded = {(p.namespace, p.name, p.dimensions) for p in saved_state.metrics}
    charted = set()
    for widget, drawn in zip(declared, parser.widgets, strict=True):
        if widget["type"] != "metric":
            continue
        assert drawn["svg"] == 1, widget["properties"]["title"]
        rows = [
            (fields, options)
            for fields, options in metric_rows(widget["properties"]["metrics"])
            if not options.get("expression")
        ]
        for index, (fields, _options) in enumerate(rows):
            key = (
                fields[0],
                fields[1],
                tuple(sorted(zip(fields[2::2], fields[3::2], strict=True))),
            )
            if key in recorded:
                charted.add((key[1], key[2]))
                assert drawn["legend"][index] > 0, (widget["properties"]["title"], key)
                assert drawn["points"] > 0, widget["properties"]["title"]
    assert [metric for metric in EMITTED if metric not in charted] == []
    # a legend gives the run's figure, readable without hovering: every status change the
    # run published, for the core page's first chart
    published = sum(p.value for p in saved_state.metrics if p.name == "StatusEventsPublished")
    assert "StatusEventsPublished status-publisher" in dumped.stdout
    assert f"over the run: {int(published)}" in dumped.stdout
