"""A local edge endpoint carries on from its saved run's time when that is ahead of now:
the demo moves its clock on, and a heartbeat taken after it must not be older than the
heartbeats the run recorded."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

from dropzone import clock
from dropzone.clock import iso
from dropzone_local import LocalCloud
from dropzone_local.edge_endpoint import LocalEdge
from dropzone_local.state import STATE_FILE, save

QUIET = {"POWERTOOLS_LOG_LEVEL": "CRITICAL", "POWERTOOLS_METRICS_DISABLED": "true"}


def test_the_endpoint_resumes_a_saved_clock_that_is_ahead(tmp_path: Path) -> None:
    with LocalCloud(function_environment=QUIET) as cloud:
        save(cloud, tmp_path)
    path = tmp_path / STATE_FILE
    document = json.loads(path.read_text())
    ahead = clock.utcnow() + timedelta(hours=2)
    document["clock"] = iso(ahead)
    path.write_text(json.dumps(document))
    with LocalEdge(tmp_path).running():
        assert clock.utcnow() >= ahead
    assert clock.utcnow() < ahead  # the local cloud gives the process its clock back


def test_a_saved_clock_behind_now_is_left_behind(tmp_path: Path) -> None:
    with LocalCloud(function_environment=QUIET) as cloud:
        save(cloud, tmp_path)
    path = tmp_path / STATE_FILE
    document = json.loads(path.read_text())
    document["clock"] = iso(clock.utcnow() - timedelta(days=3))
    path.write_text(json.dumps(document))
    before = clock.utcnow()
    with LocalEdge(tmp_path).running():
        assert before <= clock.utcnow() < before + timedelta(hours=1)
