"""One Lua script called by many tasks at once, its calls sent to Redis together."""

from __future__ import annotations

import asyncio
import math
from collections.abc import Sequence
from typing import Any

from redis.asyncio import Redis
from redis.asyncio.connection import AbstractConnection
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import NoScriptError, ResponseError

_Call = tuple[Sequence[Any], "asyncio.Future[Any]"]


class PipelinedScript:
    """Calls of one script, sent as pipelines: while one pipeline is in flight the calls made
    meanwhile wait, then go together in the next, in the order they were made.

    A call per connection would need as many connections as calls in flight (a thousand
    streams publishing at once exhaust any pool) and a round trip each; here one connection,
    taken from the client's pool and kept, carries them all, and under load each round trip
    carries many. The commands are packed and their replies read on that connection directly:
    redis-py's Pipeline costs a pool checkout, a retry wrapper and a timeout scope per reply,
    which at a call or two per pipeline was most of a call's cost; here one deadline covers a
    pipeline. A call waits at most for the pipeline ahead of it. The script is called by its
    digest; a Redis that forgot it (restarted, SCRIPT FLUSH) gets it again and the calls it
    refused are sent again (a refused call did not run). A connection that fails is dropped,
    and the calls of its pipeline fail (they may have run: they are not sent again).
    """

    def __init__(
        self,
        redis: Redis,
        source: str,
        key_count: int,
        deadline_s: float = 10.0,
        check_after_idle_s: float = 1.0,
    ) -> None:
        self._redis = redis
        self._script = redis.register_script(source)
        self._command = ("EVALSHA", self._script.sha, key_count)
        self._deadline_s = deadline_s
        self._check_after_idle_s = check_after_idle_s
        self._connection: AbstractConnection | None = None
        self._last_used = 0.0
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
        pool = self._redis.connection_pool
        connection = self._connection = await self._usable_connection()
        commands = [(*self._command, *keys_and_args) for keys_and_args, _ in calls]
        try:
            async with asyncio.timeout(self._deadline_s):
                await connection.send_packed_command(
                    connection.pack_commands(commands), check_health=False
                )
                return [await _reply(connection) for _ in commands]
        except BaseException:
            self._connection = None
            await connection.disconnect()
            await pool.release(connection)
            raise
        finally:
            self._last_used = asyncio.get_running_loop().time()

    async def _usable_connection(self) -> AbstractConnection:
        """The kept connection, or one from the pool. One kept idle for `check_after_idle_s`
        is checked first: Redis or something between may have closed it meanwhile, and its
        pipeline would fail for nothing. (The pool's own `ensure_connection` skips that check
        while its maintenance notifications are on, which they are by default.)"""
        pool = self._redis.connection_pool
        connection = self._connection
        if connection is None:
            return await pool.get_connection()
        if asyncio.get_running_loop().time() - self._last_used >= self._check_after_idle_s:
            try:
                closed_or_dirty = await connection.can_read()
            except (RedisConnectionError, OSError):
                closed_or_dirty = True
            if closed_or_dirty:
                await connection.disconnect()
                await connection.connect()
        return connection

    async def close(self) -> None:
        """Wait for the calls already made to be answered, then give the connection back."""
        if self._sender is not None:
            await asyncio.shield(self._sender)
        if self._connection is not None:
            await self._redis.connection_pool.release(self._connection)
            self._connection = None


async def _reply(connection: AbstractConnection) -> Any:
    """The next reply, or the error Redis answered with (the connection stays usable)."""
    try:
        return await connection.read_response(timeout=math.inf)
    except ResponseError as error:
        return error


def _settle(result: asyncio.Future[Any], outcome: Any) -> None:
    if result.done():
        return
    if isinstance(outcome, Exception):
        result.set_exception(outcome)
    else:
        result.set_result(outcome)
