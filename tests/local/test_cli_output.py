"""How `dropzone` prints: --output for every command, tables within the terminal, colour,
short ids pasted back, --version, completion, `jobs watch` and `jobs summary`, a reader
that goes away, and the saved demo run behind --local and `invoke --local-state`."""

from __future__ import annotations

import io
import json
import os
import re
import shutil
import subprocess
import sys
from collections import Counter
from collections.abc import Callable
from importlib.metadata import version
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import NoCredentialsError
from botocore.response import StreamingBody

import dropzone.observability  # noqa: F401 - Powertools' tracer, before sockets are blocked
from dropzone.models.jobs import Job, JobKind, JobStatus, SourceObject
from dropzone_cli import main
from dropzone_cli.jobs import LocalJobs, RemoteJobs, list_jobs, show_job
from dropzone_cli.overview import summary, watch
from dropzone_cli.render import Printer, short_id, trim_middle
from dropzone_local.state import load
from tests.support.cli import REGION, STACK, StubbedClients, function_arn, stack_description
from tests.support.fixtures import Stack

ROOT = Path(__file__).resolve().parents[2]
ANSI = re.compile(r"\x1b\[")
BASH = shutil.which("bash") or "/bin/bash"


@pytest.fixture(scope="module")
def saved(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The state `dropzone demo --keep` saves."""
    from dropzone_local import demo

    directory = tmp_path_factory.mktemp("demo")
    assert demo.main(["--keep", "--state-dir", str(directory)]) == 0
    return directory


@pytest.fixture(autouse=True)
def _plain(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("NO_COLOR", "FORCE_COLOR", "COLUMNS"):
        monkeypatch.delenv(name, raising=False)


def _out(argv: list[str], capsys: pytest.CaptureFixture[str], **kwargs: Any) -> tuple[int, str]:
    code = main(argv, **kwargs)
    return code, capsys.readouterr().out


# -- --output json, for every command ------------------------------------------------------


def _local(saved: Path, stack: Callable[[], Stack]) -> tuple[list[str], None]:
    return ["--state-dir", str(saved)], None


def _described(clients: StubbedClients, *, described: bool = True) -> None:
    if described:
        clients["cloudformation"].add_response("describe_stacks", stack_description())
    clients["cloudformation"].add_response("list_stack_resources", {"StackResourceSummaries": []})


def _nothing(saved: Path, stack: Callable[[], Stack]) -> tuple[list[str], None]:
    return [], None


def _doctor(saved: Path, stack: Callable[[], Stack]) -> tuple[list[str], StubbedClients]:
    clients = StubbedClients("cloudformation", "sqs", "cloudwatch", "lambda")
    _described(clients)
    return ["--stack", STACK, "--region", REGION], clients


def _redrive(saved: Path, stack: Callable[[], Stack]) -> tuple[list[str], StubbedClients]:
    clients = StubbedClients("cloudformation", "sqs")
    _described(clients, described=False)
    return ["--stack", STACK, "--region", REGION], clients


RUNNING_BEDROCK = "dz-" + "7" * 40
JOB_ARN = f"arn:aws:bedrock:{REGION}:123456789012:model-invocation-job/abc"


def _job(job_id: str, kind: JobKind = JobKind.BEDROCK_BATCH) -> Job:
    return Job(
        job_id=job_id,
        kind=kind,
        status=JobStatus.ACCEPTED,
        source=SourceObject(bucket="drop", key="bedrock-batch/m/b/x.jsonl", version_id="v"),
        target="anthropic.claude-3-haiku-20240307-v1:0",
        created_at="",
        updated_at="",
    )


def _stop(saved: Path, stack: Callable[[], Stack]) -> tuple[list[str], StubbedClients]:
    moto = stack()
    ledger = moto.ledger()
    ledger.create(_job(RUNNING_BEDROCK))
    for status in (JobStatus.QUEUED, JobStatus.SUBMITTED):
        ledger.transition(
            RUNNING_BEDROCK, JobKind.BEDROCK_BATCH, status, updates={"job_arn": JOB_ARN}
        )
    clients = StubbedClients("cloudformation", "bedrock", real={"dynamodb": moto.dynamodb})
    clients["cloudformation"].add_response(
        "describe_stacks", stack_description({"JobsTableName": moto.table_name})
    )
    clients["bedrock"].add_response("stop_model_invocation_job", {})
    return [RUNNING_BEDROCK[:12], "--stack", STACK, "--region", REGION], clients


def _invoke_remote(saved: Path, stack: Callable[[], Stack]) -> tuple[list[str], StubbedClients]:
    clients = StubbedClients("lambda")
    clients["lambda"].add_response(
        "invoke", {"StatusCode": 200, "Payload": StreamingBody(io.BytesIO(b'{"ok": 1}'), 9)}
    )
    return [function_arn("f"), "--remote", "--region", REGION], clients


EVERY_COMMAND: dict[str, tuple[list[str], Callable[..., tuple[list[str], Any]]]] = {
    "jobs list": (["jobs", "list"], _local),
    "jobs show": (["jobs", "show"], _local),  # an upload: filled in below
    "jobs result": (["jobs", "result"], _local),
    "jobs watch": (["jobs", "watch"], _local),
    "jobs summary": (["jobs", "summary"], _local),
    "budget": (["budget"], _local),
    "edge deployments": (["edge", "deployments", "--fleet", "line-3", "--device", "cam-1"], _local),
    "edge device": (["edge", "device", "--fleet", "line-3", "--device", "cam-1"], _local),
    "edge credentials": (
        ["edge", "credentials", "list", "--fleet", "line-3", "--device", "cam-1"],
        _local,
    ),
    "dashboard": (["dashboard"], _local),
    "demo": (["demo"], _nothing),
    "invoke": (
        ["invoke", "status_publisher", "-e", str(ROOT / "events/status_publisher.json")],
        _nothing,
    ),
    "invoke --remote": (["invoke"], _invoke_remote),
    "doctor": (["doctor"], _doctor),
    "redrive": (["redrive"], _redrive),
    "stop": (["stop"], _stop),
    "completion": (["completion", "bash"], _nothing),
}


def test_the_command_list_is_every_command() -> None:
    from dropzone_cli.app import build_parser

    parser = build_parser()
    commands = parser._subparsers._group_actions[0].choices  # type: ignore[union-attr]
    named: set[str] = set()
    for name, command in commands.items():
        nested = [a for a in command._actions if a.__class__.__name__ == "_SubParsersAction"]
        named |= {f"{name} {sub}" for sub in nested[0].choices} if nested else {name}
    # `edge serve` serves until interrupted: tests/local/test_edge_serve.py reads its JSON
    assert named == {name.removesuffix(" --remote") for name in EVERY_COMMAND} | {"edge serve"}


@pytest.mark.parametrize("name", sorted(EVERY_COMMAND))
def test_every_command_prints_json(
    name: str,
    saved: Path,
    request: pytest.FixtureRequest,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    argv, setup = EVERY_COMMAND[name]
    extra, clients = setup(saved, lambda: request.getfixturevalue("stack"))
    argv = [*argv, *extra]
    if name in ("jobs show", "jobs result"):
        upload = next(job for job in load(saved).jobs() if job.kind is JobKind.BEDROCK_BATCH)
        argv = [*argv[:2], upload.job_id, *argv[2:]]
        if name == "jobs result":
            upload = next(
                job
                for job in load(saved).jobs()
                if job.kind is JobKind.BEDROCK_BATCH
                and job.status is JobStatus.SUCCEEDED
                and not job.parent_id
            )
            argv = [*argv[:2], upload.job_id, "-o", str(tmp_path / "r.jsonl"), *argv[3:]]
    if name == "dashboard":
        argv += ["--html", str(tmp_path / "page.html")]
    if name == "demo":
        from dropzone_local import demo

        def fake_demo(demo_argv: list[str]) -> int:
            target = Path(demo_argv[demo_argv.index("--state-dir") + 1])
            shutil.copy(saved / "state.json", target / "state.json")
            print("the demo's narration")
            return 0

        monkeypatch.setattr(demo, "main", fake_demo)
    argv.append("--output=json")
    if clients is None:
        code, out = _out(argv, capsys)
    else:
        with clients.active():
            code, out = _out(argv, capsys, clients=clients)
    assert code in (0, 1), capsys.readouterr().err
    lines = out.splitlines()
    documents = [json.loads(line) for line in lines] if name == "jobs watch" else [json.loads(out)]
    assert documents and all(document is not None for document in documents)
    assert not ANSI.search(out)


# -- tables ----------------------------------------------------------------------------------


def _table_lines(text: str) -> list[str]:
    return text.splitlines()


@pytest.mark.parametrize("width", [80, 120, 200])
def test_tables_fit_the_terminal_one_line_per_row(saved: Path, width: int) -> None:
    source = LocalJobs(load(saved))
    jobs = source.state.jobs()
    out = io.StringIO()
    list_jobs(source, Printer("table", stream=out, width=width), kind=None, status=None, limit=0)
    lines = out.getvalue().splitlines()
    assert all(len(line) <= width for line in lines)
    assert lines[0].split()[:2] == ["JOB", "ID"] and "MESSAGE" in lines[0]
    rows = lines[1 : 1 + len(jobs)]
    assert lines[1 + len(jobs)] == ""  # no row took a second line
    assert Counter(row.split()[1] if width == 80 else row.split()[2] for row in rows) == Counter(
        str(job.status) for job in jobs
    )
    for job_id in (job.job_id for job in jobs):
        out = io.StringIO()
        show_job(source, Printer("table", stream=out, width=width), job_id)
        assert all(len(line) <= width for line in out.getvalue().splitlines())
    out = io.StringIO()
    summary(source, Printer("table", stream=out, width=width), kind=None)
    assert all(len(line) <= width for line in out.getvalue().splitlines())


def test_keys_are_trimmed_in_the_middle() -> None:
    key = "bedrock-batch/anthropic.claude-3-haiku-20240307-v1:0/reviews-2026-11/reviews.jsonl"
    assert trim_middle(key, 29) == "bedrock-batch/…/reviews.jsonl"
    assert trim_middle(key, 45) == "bedrock-batch/…/reviews-2026-11/reviews.jsonl"
    assert trim_middle(key, 22) == "…/reviews.jsonl"  # the end tells objects apart
    # two objects of one workflow keep what tells them apart, not the workflow's prefix
    assert trim_middle("sagemaker-async/no-such-model/x.json", 22) == "…/no-such-model/x.json"
    assert trim_middle("sagemaker-async/Bad_Endpoint!/x.json", 22) == "…/Bad_Endpoint!/x.json"
    assert trim_middle("abcdefghij", 5) == "ab…ij"
    assert trim_middle(key, len(key)) == key


def test_a_rejected_job_says_why(saved: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out = _out(["jobs", "list", "--state-dir", str(saved), "--status", "REJECTED"], capsys)
    assert code == 0
    header, *rows = out.splitlines()
    assert header.split()[-1] == "MESSAGE"
    assert any("line 42: not valid" in row for row in rows)


def test_colour_on_a_terminal_and_never_with_no_color(
    saved: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["jobs", "list", "--state-dir", str(saved)]
    assert not ANSI.search(_out(argv, capsys)[1])  # not a terminal: no colour
    monkeypatch.setenv("FORCE_COLOR", "1")  # as a terminal would have it
    assert ANSI.search(_out(argv, capsys)[1])
    monkeypatch.setenv("NO_COLOR", "1")
    assert not ANSI.search(_out(argv, capsys)[1])
    monkeypatch.delenv("NO_COLOR")
    assert not ANSI.search(_out([*argv, "--output", "text"], capsys)[1])


def test_text_output_is_tab_separated_and_whole(
    saved: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out = _out(["jobs", "list", "--state-dir", str(saved), "--output", "text"], capsys)
    rows = [line.split("\t") for line in out.splitlines()]
    assert code == 0 and len(rows) == len(load(saved).jobs())
    assert {row[0] for row in rows} == {job.job_id for job in load(saved).jobs()}


# -- ids pasted back -------------------------------------------------------------------------


def test_short_ids_as_printed_are_taken_back(
    saved: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    parts = [job for job in load(saved).jobs() if "part" in job.options]
    code, out = _out(["jobs", "list", "--state-dir", str(saved)], capsys)
    printed = [line.split()[0] for line in out.splitlines()[1:] if "…-p" in line]
    assert code == 0 and len(printed) == len(parts)
    for shown in printed:
        code, out = _out(["jobs", "show", shown, "--state-dir", str(saved), "--json"], capsys)
        assert code == 0
        job_id = json.loads(out)["job_id"]
        assert job_id.startswith(shown.split("…")[0]) and job_id.endswith(shown.split("…")[1])
    part = parts[0]
    assert short_id(part.job_id) == f"{part.job_id[:10]}…-{part.job_id.rsplit('-', 1)[1]}"
    for shown in (short_id(part.job_id), short_id(part.job_id).replace("…", "...")):
        code, out = _out(["jobs", "show", shown, "--state-dir", str(saved), "--json"], capsys)
        assert json.loads(out)["job_id"] == part.job_id
    # the upload's own short id names the upload, not its parts
    parent = str(part.parent_id)
    code, out = _out(["jobs", "show", parent[:15], "--state-dir", str(saved), "--json"], capsys)
    assert code == 0 and json.loads(out)["job_id"] == parent


# -- --version, completion --------------------------------------------------------------------


def test_version_comes_from_the_package(capsys: pytest.CaptureFixture[str]) -> None:
    code, out = _out(["--version"], capsys)
    assert code == 0 and out.strip() == f"dropzone {version('dropzone')}"


def _complete(script: str, words: list[str]) -> list[str]:
    quoted = " ".join(f"'{word}'" for word in words)
    program = (
        f"{script}\nCOMP_WORDS=({quoted}); COMP_CWORD={len(words) - 1}; _dropzone; "
        'printf "%s\\n" "${COMPREPLY[@]}"'
    )
    done = subprocess.run(
        [BASH, "--norc", "-c", program], capture_output=True, text=True, check=True
    )
    return done.stdout.split()


def test_bash_completion_offers_commands_options_and_choices(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code, script = _out(["completion", "bash"], capsys)
    assert code == 0 and script.rstrip().endswith("complete -o default -F _dropzone dropzone")
    assert _complete(script, ["dropzone", "j"]) == ["jobs"]
    assert _complete(script, ["dropzone", "jobs", "w"]) == ["watch"]
    assert _complete(script, ["dropzone", "jobs", "list", "--output", ""]) == [
        "table",
        "json",
        "text",
    ]
    assert "--status" in _complete(script, ["dropzone", "jobs", "list", "--s"])
    assert _complete(script, ["dropzone", "jobs", "list", "--status", "REJ"]) == ["REJECTED"]
    zsh = _out(["completion", "zsh"], capsys)[1]
    assert zsh.startswith("autoload -U +X bashcompinit && bashcompinit\n")


# -- jobs watch, jobs summary -----------------------------------------------------------------

WATCHED = ["dz-" + "a" * 40, "dz-" + "b" * 40]


def _ending_one_per_refresh(
    stack: Stack,
) -> tuple[RemoteJobs, Callable[[float], None], list[float]]:
    """Two jobs SUBMITTED in moto's table; each wait ends one of them."""
    ledger = stack.ledger()
    kind = JobKind.SAGEMAKER_ASYNC
    for job_id in WATCHED:
        ledger.create(_job(job_id, kind))
        ledger.transition(job_id, kind, JobStatus.SUBMITTED)
    waits: list[float] = []

    def wait(seconds: float) -> None:
        job_id = WATCHED[len(waits)]
        waits.append(seconds)
        ledger.transition(job_id, kind, JobStatus.SUCCEEDED, message=f"done {len(waits)}")

    return RemoteJobs(stack.table_name, stack.dynamodb), wait, waits


def test_watch_prints_each_change_until_every_job_shown_has_ended(stack: Stack) -> None:
    source, wait, waits = _ending_one_per_refresh(stack)
    out = io.StringIO()
    code = watch(
        source, Printer("json", stream=out), kind=None, status=None, limit=0, interval=3, sleep=wait
    )
    changes = [
        (change["job_id"], change["status"])
        for change in map(json.loads, out.getvalue().splitlines())
    ]
    assert code == 0 and waits == [3, 3]
    assert sorted(changes[:2]) == [(WATCHED[0], "SUBMITTED"), (WATCHED[1], "SUBMITTED")]
    assert changes[2:] == [(WATCHED[0], "SUCCEEDED"), (WATCHED[1], "SUCCEEDED")]


def test_watch_redraws_in_place_on_a_terminal(stack: Stack) -> None:
    source, wait, waits = _ending_one_per_refresh(stack)
    out = io.StringIO()
    printer = Printer("table", stream=out, width=80)
    code = watch(
        source, printer, kind=None, status=None, limit=0, interval=1, sleep=wait, live=True
    )
    assert code == 0 and len(waits) == 2
    assert "2 of 2 jobs ended" in out.getvalue()


def test_watch_of_ended_jobs_returns_at_once(saved: Path) -> None:
    def no_wait(seconds: float) -> None:
        raise AssertionError("every job shown has ended: nothing to wait for")

    out = io.StringIO()
    code = watch(
        LocalJobs(load(saved)),
        Printer("text", stream=out),
        kind=None,
        status=None,
        limit=5,
        interval=1,
        sleep=no_wait,
    )
    assert code == 0 and len(out.getvalue().splitlines()) == 5


def test_summary_counts_by_workflow_and_status(
    saved: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    jobs = load(saved).jobs()
    code, out = _out(["jobs", "summary", "--state-dir", str(saved), "--output", "json"], capsys)
    shown = json.loads(out)
    assert code == 0 and shown["total"] == len(jobs)
    counted = Counter((str(job.kind), str(job.status)) for job in jobs)
    assert {
        (workflow, status): count
        for workflow, entry in shown["workflows"].items()
        for status, count in entry["statuses"].items()
    } == counted
    code, out = _out(["jobs", "summary", "--state-dir", str(saved), "--output", "text"], capsys)
    assert (
        Counter({(w, s): int(n) for w, s, n in (line.split("\t") for line in out.splitlines())})
        == counted
    )


# -- a reader that goes away, the no-credentials hint ------------------------------------------


def _cli(*argv: str) -> list[str]:
    return [sys.executable, "-m", "dropzone_cli", *argv]


def test_piping_to_head_ends_quietly(saved: Path) -> None:
    command = " ".join(_cli("jobs", "list", "--state-dir", str(saved), "--output", "text"))
    done = subprocess.run(
        [BASH, "-o", "pipefail", "-c", f"{command} | head -1"],
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, "COLUMNS": "80"},
    )
    assert len(done.stdout.splitlines()) == 1 and done.stdout.startswith("dz-")
    assert "Traceback" not in done.stderr and "BrokenPipeError" not in done.stderr


def test_a_reader_gone_before_the_first_write_ends_with_sigpipe_status(saved: Path) -> None:
    child = subprocess.Popen(
        _cli("jobs", "list", "--state-dir", str(saved)),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert child.stdout is not None and child.stderr is not None
    child.stdout.close()  # long before the CLI has imported what it needs to print
    stderr = child.stderr.read().decode()
    assert child.wait() == 141
    assert stderr == ""


def _no_credentials(service: str) -> Any:
    raise NoCredentialsError()


@pytest.mark.parametrize(
    ("argv", "hinted"),
    [
        (["jobs", "list", "--stack", STACK], True),
        (["budget", "--stack", STACK], True),
        (["doctor", "--stack", STACK], False),
        (["redrive", "--stack", STACK], False),
        (["stop", "dz-1", "--stack", STACK], False),
    ],
)
def test_the_no_credentials_hint_names_local_only_where_it_works(
    argv: list[str], hinted: bool, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(argv, clients=_no_credentials) == 1
    err = capsys.readouterr().err
    assert "no AWS credentials found" in err and "--profile" in err
    assert ("--local" in err) is hinted


# -- the saved run: edge deployments and invoke -----------------------------------------------


def test_edge_deployments_answers_from_the_saved_run(
    saved: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["edge", "deployments", "--state-dir", str(saved), "--fleet", "line-3"]
    code, out = _out([*argv, "--device", "cam-1"], capsys)
    names = [deployment["DeploymentName"] for deployment in json.loads(out)["Deployments"]]
    assert code == 0 and "defect-detector-v2" in names and len(names) == 2
    code, out = _out([*argv, "--device", "no-such-camera"], capsys)
    assert code == 0 and json.loads(out) == {"Deployments": []}


def test_invoke_with_the_saved_run_finds_its_jobs(
    saved: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A SageMaker result for a job of the demo: unknown to an empty local cloud, handled
    once the saved run seeds it."""
    job = next(
        job
        for job in load(saved).jobs()
        if job.kind is JobKind.SAGEMAKER_ASYNC and job.status is JobStatus.SUCCEEDED
    )
    text = (ROOT / "events/sagemaker_result.json").read_text()
    sample = json.loads(json.loads(json.loads(text)["Records"][0]["body"])["Message"])
    text = text.replace(sample["inferenceId"], str(job.inference_id))
    event = tmp_path / "event.json"
    event.write_text(text)
    argv = ["invoke", "sagemaker_result", "-e", str(event)]
    code, out = _out(argv, capsys)
    assert code == 0 and json.loads(out)["batchItemFailures"]  # no such job
    code, out = _out([*argv, "--local-state", "--state-dir", str(saved)], capsys)
    assert code == 0 and json.loads(out) == {"batchItemFailures": []}
    assert main([*argv, "--state-dir", str(tmp_path / "none")]) == 1
    assert "dropzone demo --keep" in capsys.readouterr().err


# -- the captures in the docs -------------------------------------------------------------------

CLI_DOC = ROOT / "docs/local-development/cli.md"


def _captures() -> dict[str, list[str]]:
    found = re.findall(
        r"<!-- capture: (.+?) -->\n```text\n(.*?)\n```", CLI_DOC.read_text(), re.DOTALL
    )
    return {name: block.splitlines()[1:] for name, block in found}  # past the command line


def _printed(command: Callable[[Printer], int]) -> list[str]:
    out = io.StringIO()
    assert command(Printer("table", stream=out, width=80)) == 0
    return out.getvalue().splitlines()


def _names(lines: list[str]) -> list[str]:
    """The field names `jobs show` prints before the history."""
    head = lines[: lines.index("") if "" in lines else len(lines)]
    return [line.split()[0] for line in head if line and not line.startswith(" ")]


def _history(lines: list[str]) -> list[str]:
    start = next(index for index, line in enumerate(lines) if line.startswith("AT "))
    return [line.split()[1] for line in lines[start + 1 :] if line.startswith("20")]


def test_the_docs_captures_fit_80_columns_and_are_what_the_cli_prints(saved: Path) -> None:
    captures = _captures()
    assert set(captures) == {"jobs list", "jobs show", "jobs summary"}
    for name, lines in captures.items():
        assert all(len(line) <= 80 for line in lines), name
    source = LocalJobs(load(saved))
    jobs = source.state.jobs()

    listed = _printed(lambda p: list_jobs(source, p, kind=None, status=None, limit=100))
    captured = captures["jobs list"]
    assert captured[0].split() == listed[0].split()
    rows = len(jobs)
    assert captured[1 + rows] == "" and listed[1 + rows] == ""  # one line per job
    assert Counter(line.split()[1] for line in captured[1 : 1 + rows]) == Counter(
        line.split()[1] for line in listed[1 : 1 + rows]
    )

    part_id = captures["jobs show"][0].split()[1]
    suffix = part_id.rsplit("-", 1)[1]
    (part,) = [job for job in jobs if job.job_id.endswith(f"-{suffix}")]  # one upload has it
    shown = _printed(lambda p: show_job(source, p, part.job_id))
    assert _names(captures["jobs show"]) == _names(shown)
    assert _history(captures["jobs show"]) == _history(shown)

    counted = _printed(lambda p: summary(source, p, kind=None))
    end = counted.index("")
    assert captures["jobs summary"][: end + 1] == counted[: end + 1]
