"""A Lua script called by many tasks at once, on the real Redis."""

from __future__ import annotations

import asyncio
import math
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest
from redis.asyncio import Redis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import ResponseError

from adapters.redis.pipelined_script import PipelinedScript
from tests.conftest import REDIS_URL

pytestmark = pytest.mark.redis

Killer = Callable[[], Awaitable[None]]

APPEND = """
if ARGV[1] == 'fail' then
  return redis.error_reply('asked to fail')
end
redis.call('RPUSH', KEYS[1], ARGV[1])
return redis.call('LLEN', KEYS[1])
"""


@pytest.fixture
async def redis(redis_prefix: str) -> AsyncIterator[Redis]:
    client = Redis.from_url(REDIS_URL, max_connections=2)
    yield client
    await client.aclose()


async def test_calls_from_many_tasks_run_once_each_in_the_order_they_were_made(
    redis: Redis, redis_prefix: str
) -> None:
    script = PipelinedScript(redis, APPEND, key_count=1)
    key = f"{redis_prefix}:list"

    lengths = await asyncio.gather(*(script((key, str(n))) for n in range(500)))

    assert lengths == list(range(1, 501))
    assert await redis.lrange(key, 0, -1) == [str(n).encode() for n in range(500)]


async def test_a_call_that_fails_fails_alone(redis: Redis, redis_prefix: str) -> None:
    script = PipelinedScript(redis, APPEND, key_count=1)
    key = f"{redis_prefix}:list"

    outcomes = await asyncio.gather(
        script((key, "a")), script((key, "fail")), script((key, "b")), return_exceptions=True
    )

    assert outcomes[0] == 1 and outcomes[2] == 2
    assert isinstance(outcomes[1], ResponseError) and "asked to fail" in str(outcomes[1])


async def test_a_redis_that_forgot_the_script_is_given_it_again(
    redis: Redis, redis_prefix: str
) -> None:
    script = PipelinedScript(redis, APPEND, key_count=1)
    key = f"{redis_prefix}:list"
    assert await script((key, "before")) == 1

    await redis.script_flush()
    after = await asyncio.gather(*(script((key, str(n))) for n in range(3)))

    assert after == [2, 3, 4]


async def test_a_redis_that_cannot_be_reached_fails_the_calls_made_and_later_ones_try_again(
    redis_prefix: str,
) -> None:
    unreachable = Redis(host="127.0.0.1", port=1, retry=Retry(NoBackoff(), 0))
    script = PipelinedScript(unreachable, APPEND, key_count=1)
    try:
        outcomes = await asyncio.gather(
            *(script((f"{redis_prefix}:x", "a")) for _ in range(3)), return_exceptions=True
        )
        again = await asyncio.gather(script((f"{redis_prefix}:x", "b")), return_exceptions=True)
    finally:
        await unreachable.aclose()

    assert all(isinstance(outcome, RedisConnectionError) for outcome in outcomes + again)


@pytest.fixture
async def named_redis(redis_prefix: str) -> AsyncIterator[tuple[Redis, Killer]]:
    """A client whose connections carry a name of their own, and a way to have Redis close
    them."""
    name = f"{redis_prefix}-named"
    client = Redis.from_url(REDIS_URL, client_name=name)

    async def kill() -> None:
        admin = Redis.from_url(REDIS_URL)
        try:
            for connection in await admin.client_list():
                if connection["name"] == name:
                    await admin.client_kill_filter(_id=connection["id"])
        finally:
            await admin.aclose()

    yield client, kill
    await client.aclose()


async def test_a_kept_connection_closed_while_idle_is_replaced_before_use(
    named_redis: tuple[Redis, Killer], redis_prefix: str
) -> None:
    client, kill = named_redis
    script = PipelinedScript(client, APPEND, key_count=1, check_after_idle_s=0.05)
    key = f"{redis_prefix}:list"
    assert await script((key, "a")) == 1
    await kill()
    await asyncio.sleep(0.2)

    assert await script((key, "b")) == 2
    await script.close()


async def test_a_connection_lost_under_a_pipeline_fails_it_and_the_next_runs_on_a_new_one(
    named_redis: tuple[Redis, Killer], redis_prefix: str
) -> None:
    client, kill = named_redis
    script = PipelinedScript(client, APPEND, key_count=1, check_after_idle_s=math.inf)
    key = f"{redis_prefix}:list"
    assert await script((key, "a")) == 1
    await kill()

    lost = await asyncio.gather(script((key, "b")), return_exceptions=True)
    assert isinstance(lost[0], RedisConnectionError)
    assert await script((key, "c")) == 2
    await script.close()
