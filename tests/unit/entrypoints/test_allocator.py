"""`convo serve` caps glibc's malloc arenas (CONVO_MALLOC_ARENAS) before its threads start."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from collections.abc import Coroutine
from pathlib import Path
from typing import Any

import pytest

from entrypoints import serve as serve_module
from entrypoints import workers
from entrypoints.allocator import cap_malloc_arenas
from entrypoints.settings import Secret, Settings

HEAPS_OF_SIX_THREADS = textwrap.dedent(
    """
    import ctypes, os, sqlite3, sys, tempfile, threading
    from entrypoints.allocator import cap_malloc_arenas

    cap_malloc_arenas(int(sys.argv[1]))
    together = threading.Barrier(6)

    def work():
        database = sqlite3.connect(":memory:")
        database.execute("CREATE TABLE t (x BLOB)")
        database.executemany("INSERT INTO t VALUES (?)", [(b"x" * 2000,)] * 100)
        together.wait()  # every thread alive at once: none hands its arena on
        database.close()

    threads = [threading.Thread(target=work) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    libc = ctypes.CDLL(None)
    libc.fopen.restype = ctypes.c_void_p
    libc.fopen.argtypes = (ctypes.c_char_p, ctypes.c_char_p)
    libc.malloc_info.argtypes = (ctypes.c_int, ctypes.c_void_p)
    libc.fclose.argtypes = (ctypes.c_void_p,)
    path = os.path.join(tempfile.mkdtemp(), "malloc.xml")
    stream = libc.fopen(path.encode(), b"w")
    libc.malloc_info(0, stream)
    libc.fclose(stream)
    print(open(path).read().count("<heap nr="))
    """
)


def heaps_of_six_threads(arenas: int, **env: str) -> int:
    """The malloc arenas (glibc's `malloc_info` heaps) of a fresh process whose six threads
    each used SQLite at once, its arenas capped at `arenas` first."""
    done = subprocess.run(
        [sys.executable, "-c", HEAPS_OF_SIX_THREADS, str(arenas)],
        capture_output=True,
        text=True,
        check=True,
        cwd=Path(__file__).parents[3],
        env={"PATH": "/usr/bin:/bin", **env},
    )
    return int(done.stdout)


def test_threads_share_the_capped_arenas() -> None:
    assert heaps_of_six_threads(1) == 1
    assert heaps_of_six_threads(2) == 2


def test_zero_leaves_glibcs_default_of_an_arena_per_thread() -> None:
    assert heaps_of_six_threads(0) == 7


def test_the_operators_malloc_arena_max_wins(monkeypatch: pytest.MonkeyPatch) -> None:
    assert heaps_of_six_threads(1, MALLOC_ARENA_MAX="3") == 3
    monkeypatch.setenv("MALLOC_ARENA_MAX", "3")
    assert cap_malloc_arenas(1) is False


def test_serve_caps_the_arenas_before_its_loop_starts(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[str] = []
    monkeypatch.setattr(serve_module, "cap_malloc_arenas", lambda n: calls.append(f"cap {n}"))

    def run(main: Coroutine[Any, Any, None], event_loop: str) -> None:
        main.close()
        calls.append("loop")

    monkeypatch.setattr(serve_module.event_loop, "run", run)
    monkeypatch.setattr(serve_module.signal, "signal", lambda *args: None)

    assert serve_module.serve(Settings(malloc_arenas=2), "127.0.0.1", 0) == 0
    assert calls == ["cap 2", "loop"]


def test_each_worker_caps_its_own_arenas(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[str] = []
    settings = Settings(malloc_arenas=2, jwt_secret=Secret("s" * 40))
    monkeypatch.setattr(workers, "load_settings", lambda: settings)
    monkeypatch.setattr(workers, "cap_malloc_arenas", lambda n: calls.append(f"cap {n}"))
    monkeypatch.setattr(workers, "build_container", lambda _: calls.append("container"))
    monkeypatch.setattr(workers, "create_app", lambda *_: calls.append("app"))

    workers.worker_app()
    assert calls == ["cap 2", "container", "app"]
