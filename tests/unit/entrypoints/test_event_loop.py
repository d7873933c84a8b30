"""The long-lived commands run on the loop CONVO_EVENT_LOOP names."""

from __future__ import annotations

import asyncio
import sys

import pytest
import uvloop

from entrypoints.event_loop import EventLoopUnavailable, run


async def loop_type() -> type[asyncio.AbstractEventLoop]:
    return type(asyncio.get_running_loop())


def test_uvloop_runs_the_command_on_a_uvloop_loop() -> None:
    assert run(loop_type(), "uvloop") is uvloop.Loop


def test_asyncio_runs_the_command_on_the_standard_loop() -> None:
    assert not issubclass(run(loop_type(), "asyncio"), uvloop.Loop)


def test_a_platform_without_uvloop_is_told_what_to_set(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "uvloop", None)
    coroutine = loop_type()
    with pytest.raises(EventLoopUnavailable, match="CONVO_EVENT_LOOP=asyncio"):
        run(coroutine, "uvloop")
    coroutine.close()
