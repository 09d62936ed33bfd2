"""The invariants table names only tests that exist, and every invariant has at least one."""

import ast
from pathlib import Path

import pytest

from tests.invariants import INVARIANTS

ROOT = Path(__file__).resolve().parent.parent


def _defined(node_id: str) -> bool:
    path, *names = node_id.split("::")
    file = ROOT / path
    if not file.is_file():
        return False
    scope: list[ast.stmt] = ast.parse(file.read_text()).body
    for name in names:
        found = next(
            (
                node
                for node in scope
                if isinstance(node, ast.FunctionDef | ast.ClassDef) and node.name == name
            ),
            None,
        )
        if found is None:
            return False
        scope = found.body if isinstance(found, ast.ClassDef) else []
    return True


@pytest.mark.parametrize(("invariant", "tests"), INVARIANTS, ids=[i for i, _ in INVARIANTS])
def test_every_invariant_is_held_by_tests_that_exist(invariant: str, tests: list[str]) -> None:
    assert tests, f"no test holds: {invariant}"
    missing = [node_id for node_id in tests if not _defined(node_id)]
    assert not missing, f"{invariant!r} names tests that do not exist: {missing}"
