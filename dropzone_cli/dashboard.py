"""`dropzone dashboard --local --html FILE`: the stack's dashboards, drawn from a saved
local run as one static HTML page."""

from __future__ import annotations

import sys
from pathlib import Path

from dropzone_cli.common import CliError, project_root


def show_dashboard(state_dir: Path | None, html: Path) -> int:
    """Write the dashboards of the local run saved in `state_dir` (by default
    `.dropzone/local/` of the project) to `html`, and say on stderr what it holds."""
    from dropzone_local.dashboard import DashboardError, dashboard_bodies, render
    from dropzone_local.state import StateError, default_state_dir, load

    try:
        state = load(state_dir or default_state_dir(project_root()))
        bodies = dashboard_bodies(state.dashboards)
    except (StateError, DashboardError) as error:
        raise CliError(str(error), exit_code=1) from error
    if not bodies:
        raise CliError(
            f"the local run saved in {state.directory} has no dashboard: its stack deploys "
            "none, or it was saved before dashboards were kept (run `dropzone demo --keep`)",
            exit_code=1,
        )
    note = (
        f"Offline, from the local run of stack {state.stack_name} saved {state.saved_at}: "
        f"{len(state.metrics)} datapoints recorded by LocalCloud, times on its clock."
    )
    page = render(f"Dropzone dashboards: {state.stack_name} (local)", note, bodies, state.metrics)
    try:
        html.write_text(page, encoding="utf-8")
    except OSError as error:
        raise CliError(f"cannot write {html}: {error}", exit_code=1) from error
    widgets = sum(len(body["widgets"]) for body in bodies.values())
    print(  # on stderr: stdout stays for --output json
        f"{html}: {len(bodies)} dashboard(s), {widgets} widgets, {len(state.metrics)} datapoints",
        file=sys.stderr,
    )
    return 0
