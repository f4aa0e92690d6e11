"""Dropzone benchmarks (`make bench`): cold init, warm overhead, JSONL validation, the bulk
LocalCloud run and the Bedrock result file.

A benchmark, not a gate: it prints PASS / MISS against its targets and always exits 0 unless
the benchmark itself breaks. Shared, noisy machines: only ratios measured in the same run are
meaningful, never the absolute times.

1. Cold init plus the first event, for every function under functions/ (benchmarks/cold.py).
   Each function is first run once, untimed, as `dropzone invoke` runs it (offline LocalCloud,
   its events/<name>.json), recording every AWS call and the answer. Then fresh interpreters
   with the function's Lambda environment replay those answers at botocore's before-send:
   the function child imports functions/<name>/app.py and calls handler(event, context); the
   baseline child imports boto3, creates the same clients with the same botocore Config and
   makes the same calls with the same parameters. Runs alternate function / baseline
   (A B B A A B ...) to cancel drift, and each function child is paired with the baseline
   child run next to it.
   ratio = median over the pairs of function / baseline; target <= 1.30x.
   Then one `-X importtime` run per function shows where the import time goes.

2. Warm overhead. benchmarks/warm.py drives each real handler with its events/ file and an
   injected collaborator on moto and the local SageMaker runtime stand-in, against the
   workflow call alone.
   overhead = median(handler) - median(direct) per invocation; target <= 0.5 ms.

3. JSONL validation. benchmarks/jsonl.py generates a Bedrock batch file (Anthropic Claude
   records) as a stream of 1 MiB chunks and, in one process, alternately runs
   dropzone.workflows.bedrock.jsonl.plan_batch and a naive json.loads-per-line validator
   over it.
   ratio = median(naive) / median(plan_batch) wall time; target >= 2.2x. Then plan_batch over
   a generated 1 GB stream in a fresh interpreter: peak RSS (VmHWM); target < 100 MB.

4. Bulk run. benchmarks/bulk.py drives N SageMaker async uploads (10,000 by default) through
   LocalCloud (moto, with the real handlers wired by template.yaml) and counts the AWS calls
   Dropzone's functions make, by operation. Targets: no upload lost (every one ends in its
   expected status) or duplicated (one job and one InvokeEndpointAsync per object version),
   and at most 5 AWS calls per upload on the submit path, status events included; and a flat
   cost: CPU per upload over the last tenth of the uploads at most 1.2x the first tenth.

5. Bedrock result file. benchmarks/results.py merges a 1 GB, 50,000-record Bedrock output
   (shuffled, as Bedrock writes it) into one result file in input order, in a fresh
   interpreter: throughput in MB/s and peak RSS; target peak RSS <= 256 MB.

    scripts/uv.sh run python benchmarks/run.py [--runs 7] [--iterations 2000]
                                    [--tracing deployed|off]
                                    [--only cold|warm|jsonl|bulk|results] [--jsonl-mb 100]
                                    [--jsonl-runs 5] [--rss-mb 100 1000]
                                    [--bulk-uploads 10000] [--bulk-chunk 50]
                                    [--results-records 50000] [--results-mb 1000]
                                    [--functions NAME ...] [--warmup 200] [--budget 3]
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import platform
import re
import statistics
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

import cold
import lambda_env
from lambda_env import FUNCTIONS, ROOT, Function

COLD_TARGET = 1.30
WARM_TARGET_MS = 0.5
JSONL_TARGET = 2.2
RSS_TARGET_MB = 100
RESULTS_RSS_TARGET_MB = 256
BULK_CALL_TARGET = 5.0  # bulk.SUBMIT_BUDGET; repeated so the parent imports no AWS code
BULK_GROWTH_TARGET = 1.2  # CPU per upload, last tenth of the bulk run over the first
RETRY_CONFIG = {  # dropzone.aws.RETRY_CONFIG, literally
    "retries": {"mode": "adaptive", "max_attempts": 5},
    "connect_timeout": 5,
    "read_timeout": 30,
}
T0_MARKER = "--- dropzone-bench t0 ---"
FOLD = 0.85

# Every cold child: layer-only import guard, the runtime bootstrap's own imports; then
# cold.CHILD_SOURCE installs the replay and starts the clock.
_PREAMBLE = (
    lambda_env.GUARD_SOURCE
    + "\n".join(f"import {name}" for name in lambda_env.RUNTIME_PREIMPORTS)
    + "\n"
)

# -- plumbing --------------------------------------------------------------------------------


class BenchError(RuntimeError):
    pass


def run_child(argv: list[str], env: dict[str, str], timeout: float = 180) -> tuple[str, str]:
    process = subprocess.run(
        [sys.executable, *argv],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    if process.returncode != 0:
        raise BenchError(
            f"child {' '.join(argv[:2])[:80]!r} exited {process.returncode}:\n{process.stderr}"
        )
    return process.stdout, process.stderr


def last_json(stdout: str) -> Any:
    return json.loads(stdout.strip().splitlines()[-1])


LAYER_MOUNT = "/opt/python/"  # where Lambda mounts the layer's python/ directory


@functools.cache
def recordings_dir() -> Path:
    """Where the cold children read their recordings: made on first use, not at import."""
    return Path(tempfile.mkdtemp(prefix="dropzone-bench-cold-"))


def cold_script(recording: dict[str, Any], side: str) -> str:
    path = recordings_dir() / f"{recording['function']}.json"
    if not path.exists():
        path.write_text(json.dumps(recording), encoding="utf-8")
    return _PREAMBLE + cold.child_source(recording, path, side, RETRY_CONFIG, T0_MARKER)


def cold_env(recording: dict[str, Any], tracing: str) -> dict[str, str]:
    """Lambda's environment for the recorded function: its reserved runtime variables and
    the template's variables as the recording resolved them."""
    variables = dict(recording["environment"])
    data_path = variables.get("AWS_DATA_PATH", "")
    if data_path.startswith(LAYER_MOUNT):  # the layer's botocore models, from the checkout
        variables["AWS_DATA_PATH"] = str(
            ROOT / "layers" / "dropzone" / data_path[len(LAYER_MOUNT) :]
        )
    function = Function(
        recording["function"],
        "",
        variables.get("POWERTOOLS_SERVICE_NAME", ""),
        recording["logical_id"],
        variables,
    )
    return lambda_env.lambda_env(function, tracing=tracing, invoke=True)


def result_json(stdout: str) -> Any:
    for line in reversed(stdout.splitlines()):
        if line.startswith(cold.RESULT_MARKER):
            return json.loads(line[len(cold.RESULT_MARKER) :])
    raise BenchError(f"no result line in the child's output:\n{stdout[-2000:]}")


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.0f}"


def spread(values: list[float]) -> str:
    """Half the interquartile range, in ms: a noise indicator next to a median."""
    if len(values) < 4:
        return "n/a"
    q1, _, q3 = statistics.quantiles(values, n=4)
    return f"±{(q3 - q1) / 2 * 1000:.0f}"


def verdict(ok: bool) -> str:
    return "PASS" if ok else "MISS"


def table(headers: list[str], rows: list[list[str]], right: set[int] | None = None) -> str:
    right = right or set()
    widths = [max(len(str(cell)) for cell in column) for column in zip(headers, *rows, strict=True)]

    def line(cells: list[str]) -> str:
        return "  ".join(
            str(cell).rjust(width) if index in right else str(cell).ljust(width)
            for index, (cell, width) in enumerate(zip(cells, widths, strict=True))
        ).rstrip()

    rule = "  ".join("-" * width for width in widths)
    return "\n".join(["  " + line(headers), "  " + rule, *("  " + line(row) for row in rows)])


def wrap(text: str, indent: str = "  ", width: int = 96) -> str:
    words, lines, current = text.split(), [], ""
    for word in words:
        if current and len(current) + 1 + len(word) > width - len(indent):
            lines.append(current)
            current = word
        else:
            current = f"{current} {word}".strip()
    lines.append(current)
    return "\n".join(indent + line for line in lines)


# -- 1. cold init ----------------------------------------------------------------------------


def record(name: str) -> dict[str, Any]:
    """One untimed `dropzone invoke`-like run of the function on LocalCloud (cold.py)."""
    env = {**os.environ, "PYTHONWARNINGS": "ignore"}
    stdout, _ = run_child([str(ROOT / "benchmarks" / "cold.py"), "record", name], env)
    recording: dict[str, Any] = last_json(stdout)
    return recording


def paired_ratio(function: list[float], baseline: list[float]) -> float:
    """The median of function[i] / baseline[i]: each function child over the baseline child
    that ran right before or after it. A busy spell of the machine slows both of a pair, so
    it moves this far less than a ratio of the two sides' medians."""
    if len(function) != len(baseline) or not function:
        raise ValueError(
            f"{len(function)} function and {len(baseline)} baseline samples: "
            "expected one baseline sample per function sample, and at least one"
        )
    return statistics.median(f / b for f, b in zip(function, baseline, strict=True))


def cold_init(names: list[str], runs: int, tracing: str) -> list[dict[str, Any]]:
    recordings = {name: record(name) for name in names}
    envs = {name: cold_env(recordings[name], tracing) for name in names}
    scripts = {
        name: {side: cold_script(recordings[name], side) for side in ("function", "baseline")}
        for name in names
    }
    for name in names:  # untimed first runs: compile .pyc, warm the page cache, check replay
        for side in ("function", "baseline"):
            result_json(run_child(["-c", scripts[name][side]], envs[name])[0])

    samples: dict[str, dict[str, list[dict[str, float]]]] = {
        name: {"function": [], "baseline": []} for name in names
    }
    for run in range(runs):
        for name in names:
            sides = ["function", "baseline"]
            if run % 2:  # A B, then B A: neither side always runs right after the other
                sides.reverse()
            for side in sides:
                stdout, _ = run_child(["-c", scripts[name][side]], envs[name])
                samples[name][side].append(result_json(stdout))

    results = []
    for name in names:
        fn = samples[name]["function"]
        base = samples[name]["baseline"]
        fn_total = [s["total"] for s in fn]
        base_total = [s["total"] for s in base]
        results.append(
            {
                "name": name,
                "recording": recordings[name],
                "fn_total": fn_total,
                "fn_init": statistics.median(s["init"] for s in fn),
                "fn_event": statistics.median(s["event"] for s in fn),
                "base_total": base_total,
                "base_init": statistics.median(s["init"] for s in base),
                "base_event": statistics.median(s["event"] for s in base),
                "ratio": paired_ratio(fn_total, base_total),
                "cpu_ratio": paired_ratio([s["cpu"] for s in fn], [s["cpu"] for s in base]),
            }
        )
    return results


def print_cold(results: list[dict[str, Any]], runs: int) -> None:
    rows = []
    for r in results:
        rows.append(
            [
                r["name"],
                f"{ms(statistics.median(r['fn_total']))} {spread(r['fn_total'])}",
                f"{ms(r['fn_init'])} + {ms(r['fn_event'])}",
                f"{ms(statistics.median(r['base_total']))} {spread(r['base_total'])}",
                f"{ms(r['base_init'])} + {ms(r['base_event'])}",
                str(len(r["recording"]["calls"])),
                f"{r['ratio']:.3f}x",  # three places: 1.30x rounded can be over the target
                f"{r['cpu_ratio']:.3f}x",
                verdict(r["ratio"] <= COLD_TARGET),
            ]
        )
    print(
        table(
            [
                "function",
                "function ms",
                "init + event",
                "baseline ms",
                "clients + calls",
                "calls",
                "ratio",
                "cpu ratio",
                f"<= {COLD_TARGET:.2f}x",
            ],
            rows,
            right={1, 2, 3, 4, 5, 6, 7},
        )
    )
    built = "; ".join(f"{r['name']} {' + '.join(r['recording']['clients'])}" for r in results)
    print(
        wrap(
            f"Medians of N={runs} fresh interpreters per side; ± = half the interquartile range; "
            "init + event (clients + calls) = the medians of the two phases. boto3 clients "
            f"(both sides): {built}. ratio = the median of the N pairs' function / baseline "
            "(wall clock); PASS/MISS uses it. 'cpu ratio' is the same from process CPU time, "
            "which waiting for a CPU does not move: when the two disagree, the machine was busy."
        )
    )


_IMPORTTIME = re.compile(r"^import time:\s+(\d+)\s+\|\s+(\d+)\s+\|(\s*)(\S+)")


def importtime(argv: list[str], env: dict[str, str]) -> list[tuple[str, int, int, int]]:
    """(module, self us, cumulative us, depth) for every import after t0, in the order
    -X importtime reports them (each module after everything it imported)."""
    _, stderr = run_child(["-X", "importtime", *argv], env)
    entries = []
    for line in stderr.split(T0_MARKER, 1)[-1].splitlines():
        if match := _IMPORTTIME.match(line):
            self_us, cumulative_us, indent, name = match.groups()
            entries.append((name, int(self_us), int(cumulative_us), len(indent) // 2))
    return entries


def import_profile(recording: dict[str, Any], tracing: str) -> dict[str, Any]:
    """Import costs of the function child beyond what its baseline child imports.

    `extra` of a module = its own self time unless the baseline imports it too, plus the
    `extra` of everything it imported: cumulative time with boto3, botocore and the rest of
    the SDK's dependency tree (urllib3, dateutil, jmespath, ...) taken out, wherever in the
    tree they happened to be imported first."""
    env = cold_env(recording, tracing)
    baseline = {name for name, *_ in importtime(["-c", cold_script(recording, "baseline")], env)}
    entries = importtime(["-c", cold_script(recording, "function")], env)
    rows: list[dict[str, Any]] = []
    pending: list[dict[str, Any]] = []  # rows still waiting for the module that imported them
    for name, self_us, cumulative_us, depth in entries:
        row = {
            "name": name,
            "self": self_us,
            "cumulative": cumulative_us,
            "extra": 0 if name in baseline else self_us,
            "biggest_child": 0,
            "depth": depth,
            "in_baseline": name in baseline,
            "parent": None,
        }
        while pending and pending[-1]["depth"] > depth:
            child = pending.pop()
            child["parent"] = row
            row["extra"] += child["extra"]
            row["biggest_child"] = max(row["biggest_child"], child["extra"])
        pending.append(row)
        rows.append(row)
    for row in reversed(rows):  # importers come after what they import: walk top-down
        parent = row["parent"]
        row["importer"] = parent["name"] if parent else "app.py / first event"
        row["root"] = parent["root"] if parent else row["name"]
    by_package: dict[str, int] = defaultdict(int)
    for row in rows:
        if not row["in_baseline"]:
            by_package[row["name"].split(".")[0]] += row["self"]
    return {"rows": rows, "by_package": by_package}


def print_import_profile(name: str, profile: dict[str, Any], top: int = 10) -> None:
    rows = profile["rows"]
    total = sum(row["self"] for row in rows)
    extra = sum(row["self"] for row in rows if not row["in_baseline"])
    print(
        f"\n  {name}: {total / 1000:.0f} ms of imports after t0, of which "
        f"{extra / 1000:.0f} ms in {sum(not row['in_baseline'] for row in rows)} modules "
        "the baseline never imports"
    )
    # a module that only passes through to one import (>= 85% of its extra time is that
    # import) is folded into it, so the list shows where time is spent, not every hop to it
    ranked = sorted(
        (
            row
            for row in rows
            if not row["in_baseline"] and row["biggest_child"] < FOLD * row["extra"]
        ),
        key=lambda row: row["extra"],
        reverse=True,
    )[:top]
    print(f"  {'extra ms':>8}  {'cumul ms':>8}  {'self ms':>7}  module  <- first imported by")
    print(f"  {'-' * 8}  {'-' * 8}  {'-' * 7}  {'-' * 40}")
    for row in ranked:
        line = (
            f"  {row['extra'] / 1000:8.1f}  {row['cumulative'] / 1000:8.1f}  "
            f"{row['self'] / 1000:7.1f}  {row['name']}"
        )
        importer = f"<- {row['importer']}"
        if row["root"] not in (row["name"], row["importer"]):
            importer += f" (under {row['root']})"
        if len(line) + 2 + len(importer) > 100:
            print(line)
            print(" " * 33 + importer)
        else:
            print(f"{line}  {importer}")
    packages = sorted(profile["by_package"].items(), key=lambda item: item[1], reverse=True)
    shown = ", ".join(f"{name} {us / 1000:.1f}" for name, us in packages[:10] if us >= 500)
    print(wrap(f"extra self time by top-level package (ms): {shown}", indent="    "))


# -- 2. warm overhead ------------------------------------------------------------------------


def warm_overhead(
    functions: list[Function], iterations: int, warmup: int, tracing: str, budget: float
) -> tuple[list[dict[str, Any]], bool]:
    results = []
    tracer_enabled = True
    for function in functions:
        env = lambda_env.lambda_env(function, tracing=tracing, invoke=True)
        stdout, _ = run_child(
            [
                str(ROOT / "benchmarks" / "warm.py"),
                function.name,
                f"--iterations={iterations}",
                f"--warmup={warmup}",
                f"--budget={budget}",
            ],
            env,
        )
        report = last_json(stdout)
        tracer_enabled &= report["tracer_enabled"]
        results.extend(report["scenarios"])
    return results, tracer_enabled


def print_warm(results: list[dict[str, Any]]) -> None:
    rows = []
    for r in results:
        failures = f"  ({r['handler_failures']} FAILED)" if r["handler_failures"] else ""
        if not r["path_ok"]:
            failures += "  (WRONG PATH: see warm.py)"
        rows.append(
            [
                r["scenario"],
                str(r["iterations"]),
                f"{r['handler_ms']:.3f}",
                f"{r['direct_ms']:.3f}",
                f"{r['overhead_ms']:.3f}",
                f"{r['ratio']:.2f}x",
                f"{r['overhead_cpu_ms']:.3f}",
                verdict(r["overhead_ms"] <= WARM_TARGET_MS) + failures,
            ]
        )
    print(
        table(
            [
                "scenario",
                "N",
                "handler ms",
                "direct ms",
                "overhead ms",
                "handler/direct",
                "cpu overhead ms",
                f"<= {WARM_TARGET_MS} ms",
            ],
            rows,
            right={1, 2, 3, 4, 5, 6},
        )
    )
    print(
        "  medians per invocation, wall clock. PASS/MISS compares the wall-clock overhead with "
        "an absolute\n  target, so it moves with this machine's speed and load; handler/direct "
        "and 'cpu overhead' (process\n  CPU time, same medians) are the load-robust figures."
    )
    print("  what each scenario does (same input to both sides):")
    for r in results:
        print(f"    {r['scenario']:<22} {r['describe']}")


# -- 3. JSONL validation --------------------------------------------------------------------


def jsonl_benchmark(mb: int, runs: int, rss_sizes: list[int]) -> dict[str, Any]:
    env = dict(os.environ)
    script = str(ROOT / "benchmarks" / "jsonl.py")
    stdout, _ = run_child([script, "throughput", f"--mb={mb}", f"--runs={runs}"], env, 600)
    report = last_json(stdout)
    report["rss"] = [
        last_json(run_child([script, "rss", f"--mb={size}"], env, 600)[0]) for size in rss_sizes
    ]
    return report


def jsonl_ratios(report: dict[str, Any]) -> dict[str, float]:
    wall = {name: statistics.median(values) for name, values in report["seconds"].items()}
    cpu = {name: statistics.median(values) for name, values in report["cpu_seconds"].items()}
    generator = wall["generator"]
    return {
        "ratio": wall["naive"] / wall["ours"],
        "net_ratio": (wall["naive"] - generator) / (wall["ours"] - generator),
        "cpu_ratio": cpu["naive"] / cpu["ours"],
    }


def mb_per_s(size: int, seconds: float) -> str:
    return f"{size / 1e6 / seconds:.0f}"


def print_jsonl(report: dict[str, Any]) -> None:
    size = report["bytes"]
    rows = []
    describe = {
        "ours": "plan_batch(...): the validation and planning pass of a Bedrock batch upload",
        "naive": "json.loads per line, object / 'modelInput' object / 'recordId' string, set",
        "generator": "the chunks alone (both sides above pay it too)",
    }
    for name in ("ours", "naive", "generator"):
        seconds = report["seconds"][name]
        median = statistics.median(seconds)
        rows.append(
            [
                name,
                mb_per_s(size, median),
                f"{median:.2f}",
                f"{spread(seconds)}",
                f"{statistics.median(report['cpu_seconds'][name]):.2f}",
                describe[name],
            ]
        )
    print(
        table(
            ["side", "MB/s", "median s", "± ms", "cpu s", "what it does"],
            rows,
            right={1, 2, 3, 4},
        )
    )
    ratios = jsonl_ratios(report)
    print(
        f"\n  ours / naive: {ratios['ratio']:.2f}x the throughput (wall), "
        f"{ratios['cpu_ratio']:.2f}x (cpu), {ratios['net_ratio']:.2f}x net of the generator; "
        f"target >= {JSONL_TARGET:g}x  {verdict(ratios['ratio'] >= JSONL_TARGET)}"
    )
    print(
        wrap(
            f"{size / 1e6:.0f} MB, {report['records']:,} records of {size / report['records']:.0f} "
            f"bytes on average, {report['parts']} parts of at most 50,000 records; medians of "
            f"N={report['runs']} runs per side, alternating (A B C, C B A, ...); ± = half the "
            "interquartile range. PASS/MISS uses the wall-clock ratio with the generator's time "
            "left in both sides. Beyond the naive validator, ours also checks each line is "
            "UTF-8 without a byte order mark, a non-empty 'recordId' of at most 256 "
            "characters, the model family's modelInput fields (Anthropic: anthropic_version, "
            "a positive integer max_tokens, non-empty messages of objects), NaN / Infinity "
            "refused, blank lines and line sizes, and plans the parts (ids unique per part, "
            "byte and record limits, the minimum per part)."
        )
    )
    print("\n  peak memory: plan_batch in a fresh interpreter over a stream generated on the fly")
    rss_rows = []
    for rss in report["rss"]:
        rss_rows.append(
            [
                f"{rss['bytes'] / 1e6:,.0f}",
                f"{rss['records']:,}",
                str(rss["parts"]),
                f"{rss['seconds']:.1f}",
                mb_per_s(rss["bytes"], rss["seconds"]),
                f"{rss['rss_before'] / 1e6:.0f}",
                f"{rss['rss_peak'] / 1e6:.0f}",
                verdict(rss["rss_peak"] / 1e6 < RSS_TARGET_MB),
            ]
        )
    print(
        table(
            [
                "input MB",
                "records",
                "parts",
                "seconds",
                "MB/s",
                "RSS before MB",
                "peak RSS MB",
                f"< {RSS_TARGET_MB} MB",
            ],
            rss_rows,
            right={0, 1, 2, 3, 4, 5, 6},
        )
    )
    growth = ""
    if len(report["rss"]) > 1:
        small, large = (
            min(report["rss"], key=lambda r: r["bytes"]),
            max(report["rss"], key=lambda r: r["bytes"]),
        )
        delta = (large["rss_peak"] - small["rss_peak"]) / 1e6
        times = large["bytes"] / small["bytes"]
        growth = (
            f" From {small['bytes'] / 1e6:,.0f} to {large['bytes'] / 1e6:,.0f} MB of input "
            f"({times:.0f}x) the peak moves by {delta:+.0f} MB: "
            + ("it does not grow with the input." if delta < 10 else "it GROWS with the input.")
        )
    print(
        wrap(
            "RSS before = the process's peak RSS (VmHWM) after the imports (Python, pydantic, "
            "Powertools, dropzone) and the generator's templates; peak RSS = the same after "
            f"planning the whole stream. MB = 10^6 bytes.{growth}"
        )
    )


# -- 4. bulk run ----------------------------------------------------------------------------


def bulk_run(uploads: int, chunk: int) -> Any:
    import bulk

    out = sys.stdout  # run_bulk silences sys.stdout while the functions run
    every = max(chunk, (uploads // 20) // chunk * chunk)

    def progress(done: int, total: int, seconds: float) -> None:
        if done % every == 0 or done == total:
            out.write(
                f"    {done:>7,} / {total:,} uploads  {seconds:7.1f} s  "
                f"{done / seconds:6.1f} uploads/s\n"
            )
            out.flush()

    return bulk.run_bulk(uploads, chunk=chunk, progress=progress)


def print_bulk(result: Any) -> None:
    import bulk

    first, last = result.cpu_per_upload(first=True), result.cpu_per_upload(first=False)
    flat = result.cost_growth <= BULK_GROWTH_TARGET
    expected = ", ".join(f"{n:,} {status}" for status, n in sorted(result.expected.items()))
    outcomes = ", ".join(f"{n:,} {status}" for status, n in sorted(result.outcomes.items()))
    print(
        f"\n  wall time {result.wall_seconds:.1f} s for {result.uploads:,} uploads: "
        f"{result.rate:.1f} uploads/s ({result.cpu_seconds:.1f} s CPU; setup "
        f"{result.setup_seconds:.1f} s not included; {result.rounds:,} delivery rounds)"
    )
    print(
        f"  CPU per upload: {1000 * first:.1f} ms over the first tenth of the uploads, "
        f"{1000 * last:.1f} ms over the last: {result.cost_growth:.2f}x (target <= "
        f"{BULK_GROWTH_TARGET:.1f}x, a flat cost)  {verdict(flat)}"
    )
    print(f"  expected: {expected}; {result.redelivered:,} Object Created events delivered twice")
    print(f"  outcome:  {outcomes}")
    clean = not result.lost and not result.duplicated
    print(
        f"  lost {len(result.lost)}, duplicated {len(result.duplicated)} "
        f"(target 0 and 0)  {verdict(clean)}"
    )
    for name, keys in (("lost", result.lost), ("duplicated", result.duplicated)):
        if keys:
            print(f"    {name}: {', '.join(keys[:5])}{' ...' if len(keys) > 5 else ''}")
    dead = ", ".join(f"{name.removesuffix('Url')} {n}" for name, n in result.dead_letters.items())
    print(
        f"  status events: {result.status_events:,} published for {3 * result.uploads:,} "
        f"transitions, {result.status_event_duplicates} duplicated, "
        f"{result.status_events_missing} missing; dead-letter queues: {dead}"
    )

    counter = result.counter
    print("\n  Dropzone's AWS calls, by function and operation:")
    rows = []
    for caller in counter.callers():
        if caller == bulk.HARNESS:
            continue
        for operation, calls in counter.by_caller(caller).items():
            rows.append([caller, operation, f"{calls:,}", f"{result.per_upload(calls):.3f}"])
    print(table(["function", "service.Operation", "calls", "per upload"], rows, right={2, 3}))

    shares = counter.put_events_by_status
    entries = counter.entries_by_status
    print(
        wrap(
            "The status publisher's PutEvents calls, shared out by the status of the entries "
            "they carried (a call of n entries counts 1/n per entry): "
            + ", ".join(
                f"{status} {shares[status]:,.1f} calls for {entries[status]:,} events"
                for status in sorted(shares)
            )
            + "."
        )
    )

    path = result.submit_path()
    total = result.submit_calls_per_upload()
    print(
        "\n  Submit path, per upload: SageMakerSubmitFunction's calls (S3 event in, job "
        "SUBMITTED)\n  plus the publisher's PutEvents share for ACCEPTED and SUBMITTED:"
    )
    rows = [[operation, f"{calls:.3f}"] for operation, calls in path.items()]
    rows.append(["total", f"{total:.3f}"])
    print(table(["service.Operation", "calls/upload"], rows, right={1}))
    print(
        f"  target <= {BULK_CALL_TARGET:g} calls per upload  {verdict(total <= BULK_CALL_TARGET)}"
    )

    harness = counter.by_caller(bulk.HARNESS)
    shown = ", ".join(
        f"{operation} {result.per_upload(calls):.2f}"
        for operation, calls in sorted(harness.items(), key=lambda item: -item[1])
        if calls >= result.uploads / 100
    )
    print(
        wrap(
            "Not counted above (the harness's own calls, per upload): "
            f"{shown}. These are the user's uploads and the redeliveries, Lambda's event source "
            "mappings (SQS receive and batch delete), the SageMaker stand-in writing its "
            "outputs, and setting the stack up; moto's own S3 → EventBridge → SQS and SNS → SQS "
            "deliveries, the table stream reads, polls of queues with nothing to receive and "
            "queue depths (read from moto), and the stand-in's input reads and notifications "
            "(handed to moto's backends) make no client calls."
        )
    )


# -- main ------------------------------------------------------------------------------------


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--runs", type=int, default=7, help="cold interpreters per side (7)")
    parser.add_argument("--iterations", type=int, default=2000, help="warm timed pairs (2000)")
    parser.add_argument("--warmup", type=int, default=200, help="warm untimed pairs (200)")
    parser.add_argument(
        "--budget", type=float, default=3.0, help="max seconds per warm scenario loop (3)"
    )
    parser.add_argument(
        "--tracing",
        choices=("deployed", "off"),
        default="deployed",
        help="'deployed' (Tracing: Active, as in template.yaml) or 'off' to see the tracer's share",
    )
    parser.add_argument(
        "--only",
        choices=("cold", "warm", "jsonl", "bulk", "results"),
        help="run only one of the five benchmarks",
    )
    parser.add_argument(
        "--jsonl-mb", type=int, default=100, help="JSONL throughput input size, MB (100)"
    )
    parser.add_argument("--jsonl-runs", type=int, default=5, help="JSONL timed runs per side (5)")
    parser.add_argument(
        "--rss-mb",
        type=int,
        nargs="+",
        default=[100, 1000],
        help="input sizes for the JSONL peak-memory runs, MB (100 1000)",
    )
    parser.add_argument(
        "--bulk-uploads",
        type=int,
        default=10_000,
        help="SageMaker async uploads in the bulk run (10000)",
    )
    parser.add_argument(
        "--bulk-chunk",
        type=int,
        default=50,
        help="bulk run: uploads put before each delivery until idle (50)",
    )
    parser.add_argument(
        "--results-records", type=int, default=50_000, help="result merge: records (50000)"
    )
    parser.add_argument(
        "--results-mb", type=int, default=1000, help="result merge: output size, MB (1000)"
    )
    parser.add_argument(
        "--functions",
        nargs="+",
        choices=cold.function_names(),
        default=cold.function_names(),
        help="cold: any function; warm: those with a scenario in benchmarks/lambda_env.py",
    )
    args = parser.parse_args()
    functions = [f for f in FUNCTIONS if f.name in args.functions]
    names = [name for name in cold.function_names() if name in args.functions]
    started = time.perf_counter()

    print("Dropzone benchmarks -- a benchmark, not a gate: PASS/MISS is informational, exit 0.")
    print(
        f"  Python {platform.python_version()} ({sys.executable}) on {platform.system()} "
        f"{platform.machine()}, {os.cpu_count()} CPUs. The functions run python3.13 on arm64:"
    )
    print("  read the ratios (measured in the same run), not the absolute times.")
    print(wrap(f"Tracing: {lambda_env.TRACING_NOTE[args.tracing]}"))
    blocked = sorted(lambda_env.blocked_top_level_modules())
    print(
        wrap(
            "Environment: each child gets the function's template.yaml variables, Lambda's "
            "reserved runtime variables, fake credentials and no AWS config files; imports "
            f"of the {len(blocked)} top-level modules of dev-only distributions "
            f"({', '.join(name for name in blocked if name in ('moto', 'requests', 'pytest'))}, "
            "...) are refused, since the layer ships only dropzone's runtime dependencies "
            "(the warm child loads moto, its stand-in for AWS, before it starts refusing)."
        )
    )

    others = sorted(set(names) - {f.name for f in FUNCTIONS})
    if others and args.only in (None, "warm"):
        print(
            wrap(
                f"No warm scenario (benchmarks/lambda_env.py) for: {', '.join(others)}; cold "
                "init covers every function."
            )
        )

    cold_results: list[dict[str, Any]] = []
    warm: list[dict[str, Any]] = []
    jsonl: dict[str, Any] | None = None
    bulk: Any = None
    if args.only in (None, "cold"):
        print(
            f"\n1. COLD INIT + FIRST EVENT -- {args.runs} fresh interpreters per side, "
            f"for each of {len(names)} functions"
        )
        print(
            wrap(
                "Recorded first (untimed): each function run once as `dropzone invoke` runs "
                "it, on an offline LocalCloud with its events/<name>.json, noting every AWS "
                "call it makes and the local cloud's answer. Then, in fresh interpreters that "
                "answer each request with the recorded answer at botocore's before-send (so "
                "requests are still built and signed and answers parsed, and neither side pays "
                "for moto): function = import functions/<name>/app.py, then handler(event, "
                "context). baseline = import boto3, boto3.client(...) for the same services "
                "with dropzone.aws.RETRY_CONFIG, then the same calls in the same order with "
                "the same parameters, error answers caught. Both clocks start in the child "
                "after the runtime bootstrap's own imports "
                f"({', '.join(lambda_env.RUNTIME_PREIMPORTS)}). "
                "Each function child is paired with the baseline child run next to it; "
                f"ratio = median over the pairs of function / baseline, target <= "
                f"{COLD_TARGET:.2f}x."
            )
        )
        cold_results = cold_init(names, args.runs, args.tracing)
        print()
        print_cold(cold_results, args.runs)

        print("\n1b. WHERE THE IMPORT TIME GOES -- one `-X importtime` run per function")
        print(
            wrap(
                "The same child and its baseline once each under -X importtime. Top 10 modules "
                "the baseline never imports, by 'extra' = cumulative import time minus every "
                "module the baseline imports too (boto3, botocore, urllib3, dateutil, ...), "
                "wherever they were first imported. A module whose extra time is >= 85% one "
                "import of its own is folded into that import. importtime inflates every "
                "figure: compare rows, not runs. Client creation (loading botocore's JSON "
                "service models) is not an import: see 'init + event' above."
            )
        )
        for r in cold_results:
            profile = import_profile(r["recording"], args.tracing)
            print_import_profile(r["name"], profile)

    if args.only in (None, "warm"):
        print(
            f"\n2. WARM PER-EVENT OVERHEAD -- in-process, on moto and the local stand-ins, "
            f"{args.warmup} warm-up + up to {args.iterations} timed pairs"
        )
        print(
            wrap(
                "handler = handler(event, context, <collaborator>) with the events/ file: "
                "Powertools logger/metrics/tracer decorators, SQS batch processing, then the "
                "workflow. direct = the workflow call alone on the same collaborator and AWS "
                "(submitter.handle_record(SqsMessage) / results.handle_record(SqsMessage) / "
                "reconciler.run() / publisher.publish(event)). overhead = median(handler) - "
                f"median(direct) per invocation, target <= {WARM_TARGET_MS} ms. Logs and EMF "
                "metrics go to /dev/null. The X-Ray trace header is Sampled=1 (worst case: "
                "every invocation emits its subsegment). Loops stop early past "
                f"{args.budget:g} s per scenario (N shows the pairs timed)."
            )
        )
        warm, tracer_enabled = warm_overhead(
            functions, args.iterations, args.warmup, args.tracing, args.budget
        )
        print(f"  tracer enabled in the handler: {'yes' if tracer_enabled else 'no'}\n")
        print_warm(warm)

    if args.only in (None, "jsonl"):
        print(
            f"\n3. JSONL VALIDATION -- {args.jsonl_mb} MB generated in 1 MiB chunks, "
            f"{args.jsonl_runs} timed runs per side in one process"
        )
        print(
            wrap(
                "benchmarks/jsonl.py generates a Bedrock batch file for an Anthropic Claude "
                "model (InvokeModel): one record per line, recordId plus a Messages API "
                "modelInput, English text with the odd \\u-escaped character, as json.dumps "
                "writes it; lines straddle chunks, as S3 streams them. ours = "
                "plan_batch(chunks, limits=BatchLimits(max_records_per_file=50_000, "
                "max_records_per_job=50_000)). naive = split lines, json.loads each, an object "
                "with an object 'modelInput' and a string 'recordId', ids unique in one set. "
                f"ratio = median(naive) / median(ours), target >= {JSONL_TARGET:g}x."
            )
        )
        jsonl = jsonl_benchmark(args.jsonl_mb, args.jsonl_runs, args.rss_mb)
        print()
        print_jsonl(jsonl)

    if args.only in (None, "bulk"):
        print(
            f"\n4. BULK SAGEMAKER ASYNC RUN -- {args.bulk_uploads:,} uploads through LocalCloud, "
            f"{args.bulk_chunk} at a time"
        )
        print(
            wrap(
                "benchmarks/bulk.py: small JSON objects put under sagemaker-async/<endpoint>/ "
                "across 4 answering endpoints and 1 whose model fails (every 50th upload, "
                "expected FAILED; the rest SUCCEEDED); every 100th Object Created event is "
                "delivered twice. After each chunk LocalCloud delivers everything until idle. "
                "A botocore hook counts every API call and attributes it to the function "
                "running at the time (the SageMaker stand-in counts its own), apart from the "
                "harness's calls. Lost = an upload whose job did not reach its expected "
                "status; duplicated = more than one job or more than one InvokeEndpointAsync "
                f"for an object version. Targets: 0 lost, 0 duplicated, <= {BULK_CALL_TARGET:g} "
                "AWS calls per upload on the submit path. Wall time is almost all moto's "
                "(request parsing, serialization, SQS and stream bookkeeping), not Dropzone's."
            )
        )
        bulk = bulk_run(args.bulk_uploads, args.bulk_chunk)
        print_bulk(bulk)

    results: dict[str, Any] | None = None
    if args.only in (None, "results"):
        print(
            f"\n5. BEDROCK RESULT FILE -- {args.results_records:,} records, "
            f"{args.results_mb:,} MB of output, merged in input order in a fresh interpreter"
        )
        print(
            wrap(
                "benchmarks/results.py: Bedrock's output lines (one in 50 an error), shuffled, "
                "streamed in 1 MiB chunks; numbered_lines + Answers.add for each (spooled to a "
                "temporary file), then Answers.write of every record in input order. MB/s = "
                "output bytes / (merge - generator) seconds, measured in the same process. "
                f"Target: peak RSS <= {RESULTS_RSS_TARGET_MB} MB."
            )
        )
        script = str(ROOT / "benchmarks" / "results.py")
        stdout, _ = run_child(
            [script, f"--records={args.results_records}", f"--mb={args.results_mb}"],
            dict(os.environ),
            1800,
        )
        results = last_json(stdout)
        net = results["merge_seconds"] - results["generator_seconds"]
        results["mb_per_s"] = results["output_bytes"] / 1e6 / net
        print(
            f"  {results['output_bytes'] / 1e6:,.0f} MB in, {results['result_bytes'] / 1e6:,.0f} "
            f"MB written; generator {results['generator_seconds']:.1f} s, merge "
            f"{results['merge_seconds']:.1f} s -> {results['mb_per_s']:.0f} MB/s; peak RSS "
            f"{results['peak_rss_mb']:.0f} MB ({results['rss_before_mb']:.0f} MB before the merge)"
        )

    print("\nSUMMARY")
    for r in cold_results:
        print(
            f"  cold  {r['name']:<22} {r['ratio']:.3f}x baseline "
            f"(target <= {COLD_TARGET:.2f}x)  {verdict(r['ratio'] <= COLD_TARGET)}"
        )
    for r in warm:
        print(
            f"  warm  {r['scenario']:<22} +{r['overhead_ms']:.3f} ms per invocation "
            f"(target <= {WARM_TARGET_MS} ms)  {verdict(r['overhead_ms'] <= WARM_TARGET_MS)}"
        )
    if jsonl is not None:
        ratio = jsonl_ratios(jsonl)["ratio"]
        print(
            f"  jsonl {'validation throughput':<22} {ratio:.2f}x naive json.loads "
            f"(target >= {JSONL_TARGET:g}x)  {verdict(ratio >= JSONL_TARGET)}"
        )
        for rss in jsonl["rss"]:
            peak = rss["rss_peak"] / 1e6
            where = f"peak RSS, {rss['bytes'] / 1e6:,.0f} MB in"
            print(
                f"  jsonl {where:<22} {peak:.0f} MB (target < {RSS_TARGET_MB} MB)  "
                f"{verdict(peak < RSS_TARGET_MB)}"
            )
    if bulk is not None:
        calls = bulk.submit_calls_per_upload()
        clean = not bulk.lost and not bulk.duplicated
        print(
            f"  bulk  {'submit path':<22} {calls:.2f} AWS calls per upload "
            f"(target <= {BULK_CALL_TARGET:g})  {verdict(calls <= BULK_CALL_TARGET)}"
        )
        print(
            f"  bulk  {'lost / duplicated':<22} {len(bulk.lost)} / {len(bulk.duplicated)} of "
            f"{bulk.uploads:,} uploads (target 0 / 0)  {verdict(clean)}"
        )
        flat = bulk.cost_growth <= BULK_GROWTH_TARGET
        print(
            f"  bulk  {'per-upload cost':<22} {bulk.cost_growth:.2f}x CPU, last tenth over first "
            f"(target <= {BULK_GROWTH_TARGET:.1f}x)  {verdict(flat)}"
        )
        print(
            f"  bulk  {'wall time':<22} {bulk.wall_seconds:.0f} s, {bulk.rate:.1f} uploads/s, "
            f"{bulk.cpu_seconds:.0f} s CPU (moto-bound; informational)"
        )
    if results is not None:
        peak = results["peak_rss_mb"]
        print(
            f"  results {'merge, 1 GB in':<20} {results['mb_per_s']:.0f} MB/s, peak RSS "
            f"{peak:.0f} MB (target <= {RESULTS_RSS_TARGET_MB} MB)  "
            f"{verdict(peak <= RESULTS_RSS_TARGET_MB)}"
        )
    print(f"  total benchmark time {time.perf_counter() - started:.0f} s")
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except BenchError as error:
        print(f"\nBENCHMARK BROKEN (not a measurement): {error}", file=sys.stderr)
        sys.exit(2)
