"""`convo serve` sets the garbage collector's thresholds CONVO_GC_TUNING names before serving."""

from __future__ import annotations

import gc
from collections.abc import Coroutine, Iterator
from typing import Any

import pytest

from entrypoints import serve as serve_module
from entrypoints.collector import SERVER_THRESHOLDS, tune_collector
from entrypoints.settings import Settings

PYTHON_THRESHOLDS = (700, 10, 10)


@pytest.fixture(autouse=True)
def pythons_thresholds() -> Iterator[None]:
    before = gc.get_threshold()
    gc.set_threshold(*PYTHON_THRESHOLDS)
    yield
    gc.set_threshold(*before)


def test_server_tuning_makes_collections_rarer() -> None:
    tune_collector("server")
    assert gc.get_threshold() == SERVER_THRESHOLDS
    young, middle, full = SERVER_THRESHOLDS
    assert young > 700 and middle >= 10 and full >= 10


def test_python_tuning_keeps_pythons_thresholds() -> None:
    tune_collector("python")
    assert gc.get_threshold() == PYTHON_THRESHOLDS


@pytest.mark.parametrize(
    ("tuning", "expected"), [("server", SERVER_THRESHOLDS), ("python", PYTHON_THRESHOLDS)]
)
def test_serve_tunes_the_collector_before_its_loop_starts(
    monkeypatch: pytest.MonkeyPatch, tuning: str, expected: tuple[int, int, int]
) -> None:
    seen: list[tuple[int, int, int]] = []

    def run(main: Coroutine[Any, Any, None], event_loop: str) -> None:
        main.close()
        seen.append(gc.get_threshold())

    monkeypatch.setattr(serve_module.event_loop, "run", run)
    monkeypatch.setattr(serve_module.signal, "signal", lambda *args: None)
    settings = Settings(gc_tuning=tuning)  # type: ignore[arg-type]

    assert serve_module.serve(settings, "127.0.0.1", 0) == 0
    assert seen == [expected]
