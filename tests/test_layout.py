"""Issue 20's house rules, checked on the source: each thing done one way.

Tasks import services, never the reverse (services reach tasks by name through
``inventory.dispatch``); no app module imports a management command; the demo storefront is
reached only as an adapter; every setting is read in ``config/settings.py``.
"""

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
APPS = ["config", "inventory", "returns", "replenishment", "driftwalks"]


def _modules() -> list[Path]:
    return [
        path
        for app in APPS
        for path in sorted((ROOT / app).rglob("*.py"))
        if "migrations" not in path.parts
    ]


def _imports(path: Path) -> set[str]:
    """Every module the file imports, at the top or inside a function."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
            names |= {f"{node.module}.{alias.name}" for alias in node.names}
    return names


def _name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def test_the_checks_see_the_project():
    assert {"inventory.tasks", "inventory.services.runs", "inventory.dispatch"} <= {
        _name(path) for path in _modules()
    }
    assert "inventory.services.runs" in _imports(ROOT / "inventory" / "tasks.py")


@pytest.mark.parametrize("path", _modules(), ids=_name)
def test_no_module_but_a_task_module_imports_tasks(path):
    if path.name == "tasks.py":
        return
    assert not [name for name in _imports(path) if name.split(".")[-1] == "tasks"]


@pytest.mark.parametrize("path", _modules(), ids=_name)
def test_no_app_module_imports_a_management_command(path):
    assert not [name for name in _imports(path) if ".management.commands" in name]


@pytest.mark.parametrize("path", _modules(), ids=_name)
def test_the_demo_storefront_is_reached_only_as_an_adapter(path):
    name = _name(path)
    allowed = (
        "inventory.storefront.demo",  # itself
        "inventory.bench",  # the load test drives it as its storefront
        "inventory.management.commands.seed_demo",  # seeds it
        "config.urls",  # mounts its page
    )
    if name.startswith(allowed):
        return
    demo = {n for n in _imports(path) if n.startswith("inventory.storefront.demo")}
    if name == "inventory.models":  # registers its tables with the app
        assert demo <= {
            "inventory.storefront.demo.models",
            "inventory.storefront.demo.models.DemoLevel",
            "inventory.storefront.demo.models.DemoOrder",
        }
    elif name == "inventory.storefront":  # the adapter, by its name "demo"
        assert demo <= {
            "inventory.storefront.demo.adapter",
            "inventory.storefront.demo.adapter.DemoAdapter",
        }
    else:
        assert not demo


@pytest.mark.parametrize("path", _modules(), ids=_name)
def test_only_settings_reads_the_environment_for_a_setting(path):
    if _name(path) == "config.settings":
        return
    assert "environ" not in _imports(path)
