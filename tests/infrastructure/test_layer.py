"""The Lambda layer ships the runtime package alone, pinned to the versions the tests run on."""

from __future__ import annotations

import subprocess
import sys
import tomllib
from importlib import metadata
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
LAYER = ROOT / "layers" / "dropzone"
REQUIREMENTS = LAYER / "requirements.txt"
UV = ROOT / "scripts" / "uv.sh"
# What the functions never need and the layer must never carry.
TOOLS = ("moto", "yaml", "dropzone_local", "dropzone_cli", "pytest")


def _pins(text: str) -> dict[str, str]:
    pins = {}
    for line in text.splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            name, _, version = line.partition("==")
            pins[name.strip().lower()] = version.split(";", 1)[0].strip()
    return pins


def _locked() -> dict[str, str]:
    lock = tomllib.loads((ROOT / "uv.lock").read_text())
    return {package["name"]: package["version"] for package in lock["package"]}


def test_the_layer_holds_only_the_runtime_package() -> None:
    assert sorted(path.name for path in LAYER.iterdir() if path.name != "__pycache__") == [
        "dropzone",
        "requirements.txt",
    ]


def test_every_requirement_is_pinned_to_the_locked_version() -> None:
    pins, locked = _pins(REQUIREMENTS.read_text()), _locked()
    assert {"boto3", "botocore", "pydantic", "aws-lambda-powertools"} <= set(pins)
    assert {name: locked.get(name) for name in pins} == pins


def test_the_requirements_are_the_current_export_of_the_lock() -> None:
    exported = subprocess.run(
        [
            str(UV),
            "export",
            "--frozen",
            "--no-dev",
            "--no-emit-project",
            "--no-hashes",
            "--no-header",
            "--quiet",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert exported == REQUIREMENTS.read_text(), "stale: run `make layer-requirements`"


_IMPORT_EVERYTHING = """
import importlib.util, pathlib, pkgutil, sys
site, layer, functions = sys.argv[1:4]
sys.path[:0] = [site, layer]
import dropzone
names = [m.name for m in pkgutil.walk_packages(dropzone.__path__, "dropzone.")]
for name in names:
    importlib.import_module(name)
apps = sorted(pathlib.Path(functions).glob("*/app.py"))
for app in apps:
    spec = importlib.util.spec_from_file_location(f"fn_{app.parent.name}", app)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert callable(module.handler), app
tools = sys.argv[4:]
reachable = [name for name in tools if importlib.util.find_spec(name) is not None]
loaded = sorted({m.split(".")[0] for m in sys.modules} & set(tools))
assert not reachable and not loaded, (reachable, loaded)
print(len(names), "modules,", len(apps), "handlers")
"""


@pytest.fixture(scope="module")
def layer_site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A site folder holding the layer's requirements and nothing else: links to the
    installed distributions that requirements.txt pins (the same versions: see above)."""
    site = tmp_path_factory.mktemp("layer-site")
    for name in _pins(REQUIREMENTS.read_text()):
        distribution = metadata.distribution(name)
        top_level = {Path(str(file)).parts[0] for file in distribution.files or []}
        for entry in top_level - {"..", "bin"}:
            source = Path(str(distribution.locate_file(entry)))
            if source.exists() and not (site / entry).exists():
                (site / entry).symlink_to(source)
    return site


def test_the_runtime_imports_with_only_the_layer_requirements(layer_site: Path) -> None:
    # -S -I: no site-packages, no environment; the path is the requirements, then the
    # layer's package, as Lambda lays out /opt/python beside the function's code.
    result = subprocess.run(
        [
            sys.executable,
            "-S",
            "-I",
            "-c",
            _IMPORT_EVERYTHING,
            str(layer_site),
            str(LAYER),
            str(ROOT / "functions"),
            *TOOLS,
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    handlers = len(list((ROOT / "functions").glob("*/app.py")))
    assert f"{handlers} handlers" in result.stdout
