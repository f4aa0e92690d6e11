"""The documentation holds together: a short README, relative links that lead somewhere,
every page in the navigation, every example shown on a page, and the end-of-life facts."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from markdown.extensions.toc import slugify  # type: ignore[import-untyped]

from tests.support.docs import (
    DOCS,
    EXAMPLES,
    MKDOCS,
    README,
    ROOT,
    documents,
    page,
    pages,
    prose,
)

README_MAX_LINES = 250
_LINK = re.compile(r"(?<!!)\[(?:[^\[\]]|\[[^\]]*\])*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
_SNIPPET = re.compile(r"^\s*--8<--\s+\"([^\"]+)\"\s*$", flags=re.MULTILINE)
_EXTERNAL = ("http://", "https://", "mailto:")


def _name(path: Path) -> str:
    return path.relative_to(ROOT).as_posix()


def test_the_readme_is_a_short_introduction() -> None:
    lines = README.read_text(encoding="utf-8").splitlines()
    assert len(lines) <= README_MAX_LINES


def test_the_readme_links_to_every_page() -> None:
    readme = README.read_text(encoding="utf-8")
    linked = {target.split("#")[0] for target in _LINK.findall(readme)}
    assert [_name(path) for path in pages() if _name(path) not in linked] == []


def _anchors(path: Path) -> set[str]:
    """The heading anchors MkDocs gives a page (toc's slugify over the heading's text)."""
    anchors = set()
    for heading in re.findall(r"^#{1,6}\s+(.+?)\s*#*$", prose(path.read_text("utf-8")), re.M):
        text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", heading).replace("`", "").replace("*", "")
        anchors.add(slugify(text, "-"))
    return anchors


def _links() -> list[tuple[Path, str]]:
    return [
        (path, target)
        for path in documents()
        for target in _LINK.findall(prose(path.read_text(encoding="utf-8")))
        if not target.startswith(_EXTERNAL)
    ]


def test_the_documents_have_relative_links() -> None:
    assert len(_links()) > 50


@pytest.mark.parametrize(
    ("source", "target"),
    [(path, target) for path, target in _links()],
    ids=[f"{_name(path)}->{target}" for path, target in _links()],
)
def test_every_relative_link_leads_to_an_existing_file_and_heading(
    source: Path, target: str
) -> None:
    location, _, anchor = target.partition("#")
    linked = (source.parent / location).resolve() if location else source
    assert linked.is_file(), f"{_name(source)} links to {target}, which does not exist"
    assert linked.is_relative_to(ROOT), f"{_name(source)} links outside the repository"
    if anchor and linked.suffix == ".md":
        assert anchor in _anchors(linked), f"{_name(source)}: no heading #{anchor} in {target}"


def test_the_pages_link_only_to_pages() -> None:
    """Links from a page to a file outside docs/ break on the site: name those in code."""
    outside = [
        (_name(path), target)
        for path, target in _links()
        if path != README
        and target.partition("#")[0]
        and not (path.parent / target.partition("#")[0]).resolve().is_relative_to(DOCS)
    ]
    assert outside == []


class _MkDocsLoader(yaml.SafeLoader):
    """mkdocs.yml's `!!python/name:` tags, read as plain strings."""


def _python_name(loader: yaml.SafeLoader, suffix: str, node: yaml.Node) -> str:
    return f"python/name:{suffix}"


_MkDocsLoader.add_multi_constructor("tag:yaml.org,2002:python/name:", _python_name)


def _nav_pages(entries: Any) -> list[str]:
    if isinstance(entries, str):
        return [entries]
    if isinstance(entries, list):
        return [page for entry in entries for page in _nav_pages(entry)]
    if isinstance(entries, dict):
        return [page for value in entries.values() for page in _nav_pages(value)]
    return []


def _mkdocs() -> dict[str, Any]:
    with MKDOCS.open(encoding="utf-8") as handle:
        config = yaml.load(handle, Loader=_MkDocsLoader)  # noqa: S506 - a SafeLoader
    assert isinstance(config, dict)
    return config


def test_the_navigation_lists_every_page_once() -> None:
    listed = _nav_pages(_mkdocs()["nav"])
    assert len(listed) == len(set(listed))
    assert sorted(listed) == sorted(path.relative_to(DOCS).as_posix() for path in pages())


def test_the_site_is_built_strictly_with_snippets_from_the_repository() -> None:
    config = _mkdocs()
    assert config["theme"]["name"] == "material"
    assert config["strict"] is True
    (snippets,) = [
        entry["pymdownx.snippets"]
        for entry in config["markdown_extensions"]
        if isinstance(entry, dict) and "pymdownx.snippets" in entry
    ]
    assert snippets["base_path"] == ["."]
    assert snippets["check_paths"] is True


def test_every_example_is_shown_on_a_page_and_every_snippet_exists() -> None:
    included = {
        snippet for path in pages() for snippet in _SNIPPET.findall(path.read_text("utf-8"))
    }
    assert [snippet for snippet in sorted(included) if not (ROOT / snippet).is_file()] == []
    examples = {_name(path) for path in EXAMPLES.glob("*.py")}
    assert examples
    assert sorted(examples - included) == []


def test_the_site_output_is_ignored_by_git() -> None:
    ignored = (ROOT / ".gitignore").read_text(encoding="utf-8").splitlines()
    assert "site/" in ignored


def test_the_end_of_life_page_states_the_dates_and_the_supported_path() -> None:
    text = page("end-of-life.md")
    for fact in ("2025-10-31", "2024-04-26", "Greengrass V2"):
        assert fact in text
    assert "still call their APIs" in text
    assert "device fleets Edge Manager left behind" in text
    readme = README.read_text(encoding="utf-8")
    assert "2025-10-31" in readme
    assert "2024-04-26" in readme
