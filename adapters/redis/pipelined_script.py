"""One Lua script called by many tasks at once, its calls sent to Redis together."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

from redis.asyncio import Redis
from redis.exceptions import NoScriptError

_Call = tuple[Sequence[Any], "asyncio.Future[Any]"]


class PipelinedScript:
    """Calls of one script, sent as pipelines: while one pipeline is in flight the calls made
    meanwhile wait, then go together in the next, in the order they were made.

    A call per connection would need as many connections as calls in flight (a thousand
    streams publishing at once exhaust any pool) and a round trip each; here one connection
    carries them all, and under load each round trip carries many. A call waits at most for
    the pipeline ahead of it. The script is loaded once and called by its digest; a Redis that
    forgot it (restarted, SCRIPT FLUSH) gets it again and the calls it refused are sent again
    (a refused call did not run).
    """

    def __init__(self, redis: Redis, source: str, key_count: int) -> None:
        self._redis = redis
        self._script = redis.register_script(source)
        self._key_count = key_count
        self._waiting: list[_Call] = []
        self._sender: asyncio.Task[None] | None = None

    def __call__(self, keys_and_args: Sequence[Any]) -> asyncio.Future[Any]:
        """The script's result for these keys (`key_count` of them) then arguments."""
        loop = asyncio.get_running_loop()
        result: asyncio.Future[Any] = loop.create_future()
        self._waiting.append((keys_and_args, result))
        if self._sender is None:
            self._sender = loop.create_task(self._send())
        return result

    async def _send(self) -> None:
        calls: list[_Call] = []
        try:
            while self._waiting:
                calls, self._waiting = self._waiting, []
                try:
                    results = await self._execute(calls)
                except Exception as error:
                    results = [error] * len(calls)
                for (_, result), outcome in zip(calls, results, strict=True):
                    _settle(result, outcome)
        finally:
            self._sender = None
            for _, result in [*calls, *self._waiting]:
                result.cancel()
            self._waiting = []

    async def _execute(self, calls: Sequence[_Call]) -> list[Any]:
        results = await self._pipeline(calls)
        refused = [n for n, outcome in enumerate(results) if isinstance(outcome, NoScriptError)]
        if refused:
            await self._redis.script_load(self._script.script)
            again = await self._pipeline([calls[n] for n in refused])
            for n, outcome in zip(refused, again, strict=True):
                results[n] = outcome
        return results

    async def _pipeline(self, calls: Sequence[_Call]) -> list[Any]:
        pipeline = self._redis.pipeline(transaction=False)
        for keys_and_args, _ in calls:
            pipeline.evalsha(self._script.sha, self._key_count, *keys_and_args)
        return list(await pipeline.execute(raise_on_error=False))

    async def close(self) -> None:
        """Wait for the calls already made to be answered."""
        if self._sender is not None:
            await asyncio.shield(self._sender)


def _settle(result: asyncio.Future[Any], outcome: Any) -> None:
    if result.done():
        return
    if isinstance(outcome, Exception):
        result.set_exception(outcome)
    else:
        result.set_result(outcome)
