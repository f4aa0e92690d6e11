"""Where things live: each function maps to one module of its workflow's package, runtime
modules stay small, and the runtime package never reaches for the tools."""

from __future__ import annotations

import ast
import importlib.util
import inspect
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
RUNTIME = ROOT / "layers" / "dropzone" / "dropzone"
FUNCTIONS = ROOT / "functions"
MAX_MODULE_LINES = 400
TOOLS = {"moto", "yaml", "dropzone_local", "dropzone_cli", "pytest", "boto3_stubs"}

# functions/<name>/app.py → the one runtime module holding its logic
FUNCTION_MODULES = {
    "bedrock_submit": "dropzone.workflows.bedrock.submit",
    "bedrock_admission": "dropzone.workflows.bedrock.admission",
    "bedrock_finish": "dropzone.workflows.bedrock.finish",
    "bedrock_on_demand": "dropzone.workflows.bedrock.on_demand",
    "bedrock_state": "dropzone.workflows.bedrock.state",
    "bedrock_reconcile": "dropzone.workflows.bedrock.reconcile",
    "bedrock_prices": "dropzone.workflows.bedrock.price_refresh",
    "sagemaker_submit": "dropzone.workflows.sagemaker.submit",
    "sagemaker_result": "dropzone.workflows.sagemaker.result",
    "sagemaker_reconcile": "dropzone.workflows.sagemaker.reconcile",
    "packaging_submit": "dropzone.workflows.packaging.submit",
    "packaging_poll": "dropzone.workflows.packaging.poll",
    "edge_deployment_submit": "dropzone.workflows.edge.deployment_submit",
    "edge_heartbeat": "dropzone.workflows.edge.heartbeat",
    "edge_reconcile": "dropzone.workflows.edge.reconcile",
    "edge_sync": "dropzone.workflows.edge.sync",
    "edge_endpoint": "dropzone.workflows.edge.endpoint",
    "greengrass_state": "dropzone.workflows.edge.greengrass_state",
    "status_publisher": "dropzone.workflows.status.publisher",
}


def _runtime_modules() -> list[Path]:
    return sorted(path for path in RUNTIME.rglob("*.py") if "__pycache__" not in path.parts)


def _imported(tree: ast.AST) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


def test_every_function_is_in_the_map() -> None:
    assert sorted(path.parent.name for path in FUNCTIONS.glob("*/app.py")) == sorted(
        FUNCTION_MODULES
    )


@pytest.mark.parametrize("function", sorted(FUNCTION_MODULES))
def test_a_handler_reaches_its_workflow_through_one_module(function: str) -> None:
    tree = ast.parse((FUNCTIONS / function / "app.py").read_text())
    workflow_modules = {name for name in _imported(tree) if name.startswith("dropzone.workflows")}
    assert workflow_modules == {FUNCTION_MODULES[function]}
    module_path = RUNTIME.parent / (FUNCTION_MODULES[function].replace(".", "/") + ".py")
    assert module_path.is_file()


@pytest.mark.parametrize("function", sorted(FUNCTION_MODULES))
def test_a_handler_takes_its_collaborator_from_a_factory_of_the_same_name(function: str) -> None:
    spec = importlib.util.spec_from_file_location(
        f"layout_{function}", FUNCTIONS / function / "app.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    parameters = list(inspect.signature(module.handler).parameters)
    assert parameters[:2] == ["event", "context"] and len(parameters) == 3
    collaborator = parameters[2]
    factory = getattr(module, f"default_{collaborator}")
    assert list(inspect.signature(factory).parameters) == ["client"]


@pytest.mark.parametrize("function", sorted(FUNCTION_MODULES))
def test_a_handler_imports_dropzone_first_and_ends_the_cold_start_at_its_first_call(
    function: str,
) -> None:
    """Importing `dropzone` pauses the collector in Lambda (dropzone.cold_start), so it
    comes before any library outside the standard one; the handler's outermost decorator
    resumes it."""
    tree = ast.parse((FUNCTIONS / function / "app.py").read_text())
    imports = [
        node
        for node in tree.body
        if isinstance(node, ast.Import | ast.ImportFrom)
        and not (isinstance(node, ast.ImportFrom) and node.module == "__future__")
    ]
    libraries = [  # the standard library may come first
        node
        for node in imports
        if (node.module if isinstance(node, ast.ImportFrom) else node.names[0].name).split(".")[0]
        not in sys.stdlib_module_names
    ]
    first = libraries[0]
    assert isinstance(first, ast.ImportFrom) and first.module == "dropzone"
    assert "cold_start" in {alias.name for alias in first.names}
    handler = next(
        node for node in tree.body if isinstance(node, ast.FunctionDef) and node.name == "handler"
    )
    assert ast.unparse(handler.decorator_list[0]) == "cold_start.released"


def test_no_runtime_module_is_over_the_size_limit() -> None:
    sizes = {
        str(path.relative_to(RUNTIME)): len(path.read_text().splitlines())
        for path in _runtime_modules()
    }
    assert {name: lines for name, lines in sizes.items() if lines > MAX_MODULE_LINES} == {}


def test_the_runtime_never_imports_the_tools() -> None:
    reached = {
        str(path.relative_to(RUNTIME)): sorted(
            name for name in _imported(ast.parse(path.read_text())) if name.split(".")[0] in TOOLS
        )
        for path in _runtime_modules()
    }
    assert {name: tools for name, tools in reached.items() if tools} == {}


def test_rules_modules_do_no_io() -> None:
    io_modules = {"boto3", "botocore", "dropzone.aws", "dropzone.store", "dropzone.adapters"}
    rules = sorted(RUNTIME.glob("workflows/*/rules.py"))
    assert rules, "each workflow package keeps its pure rules in rules.py"
    for path in rules:
        imported = _imported(ast.parse(path.read_text()))
        assert not {name for name in imported if any(name.startswith(io) for io in io_modules)}, (
            path
        )
