"""A copy of the stack's templates in a folder of a test's own, with edits, sharing the
functions' code: for tests that need a template unlike the real one."""

from __future__ import annotations

from pathlib import Path

from dropzone_local.template import TEMPLATE_PATH


def copy_stack(folder: Path, edits: dict[str, tuple[str, str]]) -> Path:
    """Copy template.yaml and stacks/ into `folder`, replacing text as `edits` says
    (template path relative to the project → (old, new); the old text must be there),
    link functions/ and the layer; return the copied root template's path."""
    project = TEMPLATE_PATH.parent
    for source in [TEMPLATE_PATH, *sorted((project / "stacks").glob("*.yaml"))]:
        relative = source.relative_to(project)
        text = source.read_text()
        if str(relative) in edits:
            old, new = edits[str(relative)]
            assert old in text, f"{old!r} is not in {relative}"
            text = text.replace(old, new)
        target = folder / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text)
    unknown = set(edits) - {str(p.relative_to(folder)) for p in folder.rglob("*.yaml")}
    assert not unknown, f"no such template: {unknown}"
    (folder / "functions").symlink_to(project / "functions")
    (folder / "layers").symlink_to(project / "layers")
    return folder / "template.yaml"
