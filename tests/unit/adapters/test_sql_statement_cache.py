"""The SQL adapters build their statements once, at import, so that SQLAlchemy compiles each
once per dialect. A statement without a cache key (a multi-row INSERT construct, say) is
compiled again at every execution, which cost more than the round trip it saves."""

import importlib
import pkgutil

import pytest
from sqlalchemy.sql import ClauseElement

import adapters.sql


def prebuilt_statements() -> list[tuple[str, ClauseElement]]:
    found = []
    for module in pkgutil.iter_modules(adapters.sql.__path__):
        loaded = importlib.import_module(f"adapters.sql.{module.name}")
        for name, value in vars(loaded).items():
            if isinstance(value, ClauseElement) and name.lstrip("_").isupper():
                found.append((f"{module.name}.{name}", value))
    return found


def test_the_adapters_have_prebuilt_statements() -> None:
    assert len(prebuilt_statements()) >= 20


@pytest.mark.parametrize(("name", "statement"), prebuilt_statements())
def test_every_prebuilt_statement_is_compiled_once(name: str, statement: ClauseElement) -> None:
    assert statement._generate_cache_key() is not None, f"{name} is compiled at every execution"
