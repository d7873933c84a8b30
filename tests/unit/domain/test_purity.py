"""The domain imports the standard library only: checked on the source, beyond import-linter's
list of forbidden packages."""

import ast
import sys
from pathlib import Path

import domain


def imported_roots(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    roots = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            roots.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            roots.add(node.module.split(".")[0])
    return roots


def test_the_domain_imports_only_the_standard_library_and_itself() -> None:
    allowed = set(sys.stdlib_module_names) | {"domain", "__future__"}
    for path in Path(domain.__file__).parent.rglob("*.py"):
        assert imported_roots(path) <= allowed, path
