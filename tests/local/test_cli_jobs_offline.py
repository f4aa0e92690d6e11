"""dropzone jobs and demo without AWS: a missing stack, no saved run, and where the demo
keeps its state."""

from __future__ import annotations

from pathlib import Path

import pytest

import dropzone.observability  # noqa: F401 - Powertools' tracer, before sockets are blocked
from dropzone_cli import main
from tests.support.cli import REGION, StubbedClients


def test_a_missing_stack_is_a_clear_error(capsys: pytest.CaptureFixture[str]) -> None:
    aws = StubbedClients("cloudformation")
    aws["cloudformation"].add_client_error(
        "describe_stacks",
        service_error_code="ValidationError",
        service_message="Stack with id nope does not exist",
        http_status_code=400,
    )
    with aws.active():
        code = main(["jobs", "list", "--stack", "nope", "--region", REGION], clients=aws)
    err = capsys.readouterr().err
    assert code == 1
    assert "stack nope does not exist" in err and "--local" in err


def test_local_without_a_saved_run(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["jobs", "list", "--state-dir", str(tmp_path)]) == 1
    assert "run `dropzone demo --keep` first" in capsys.readouterr().err
    assert main(["jobs", "list", "--local", "--stack", "x"]) == 2
    assert "--stack and --local exclude each other" in capsys.readouterr().err


def test_demo_command_keeps_its_state_where_asked(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from dropzone_local import demo

    seen: list[list[str]] = []
    monkeypatch.setattr(demo, "main", lambda argv: seen.append(argv) or 0)
    assert main(["demo", "--keep", "--state-dir", str(tmp_path)]) == 0
    assert main(["demo"]) == 0
    assert seen == [["--keep", "--state-dir", str(tmp_path)], []]
