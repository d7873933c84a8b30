"""Idempotency-Key: a repeated execute attaches to the run the first one started."""

from __future__ import annotations

import asyncio
import uuid

from tests.contract.wire import LONG_INPUT, SIMPLE_INPUT, AgentHttp, body, read_stream


def key() -> dict[str, str]:
    return {"Idempotency-Key": f"contract-{uuid.uuid4()}"}


async def test_the_same_key_and_body_replay_the_first_run_instead_of_starting_one(
    agent: AgentHttp,
) -> None:
    headers = key()
    first = await agent.execute(body(SIMPLE_INPUT), headers)
    again = await agent.execute(body(SIMPLE_INPUT), headers)

    assert again.status == 200
    assert again.events == first.events
    _, state = await agent.status(first.session_id)
    assert state["last_event_id"] == first.last.id


async def test_attaching_while_the_first_stream_is_open_follows_the_same_run(
    agent: AgentHttp,
) -> None:
    headers = key()
    async with agent.post_execute(body(LONG_INPUT), headers) as response:
        opening = await read_stream(response, limit=2)
        attached = await agent.execute(body(LONG_INPUT), headers)
        rest = await read_stream(response)

    assert attached.events == opening.events[:2] + rest.events
    assert attached.last.event == "COMPLETE"


async def test_a_key_on_a_later_turn_attaches_to_that_turn(agent: AgentHttp) -> None:
    first = await agent.run(SIMPLE_INPUT)
    headers, turn = key(), body(SIMPLE_INPUT, session_id=first.session_id)
    second = await agent.execute(turn, headers)

    again = await agent.execute(turn, headers)

    assert again.events == second.events
    assert again.events[0].id == first.last.id + 1


async def test_the_same_key_with_another_body_is_unprocessable(agent: AgentHttp) -> None:
    headers = key()
    await agent.execute(body(SIMPLE_INPUT), headers)
    async with agent.post_execute(body(SIMPLE_INPUT + " please"), headers) as response:
        assert response.status == 422
        assert (await response.json(content_type=None))["code"] == "idempotency_key_reused"


async def test_a_refused_request_leaves_its_key_unused(agent: AgentHttp) -> None:
    headers = key()
    refused = await agent.execute(body(SIMPLE_INPUT, session_id="no-such-session"), headers)
    assert refused.status == 404

    accepted = await agent.execute(body(SIMPLE_INPUT), headers)

    assert accepted.status == 200 and accepted.last.event == "COMPLETE"


async def test_concurrent_attempts_with_one_key_share_one_run(agent: AgentHttp) -> None:
    headers = key()
    reads = await asyncio.gather(*(agent.execute(body(SIMPLE_INPUT), headers) for _ in range(20)))

    assert {read.status for read in reads} == {200}
    assert {read.session_id for read in reads} == {reads[0].session_id}
    assert all(read.events == reads[0].events for read in reads)
    _, state = await agent.status(reads[0].session_id)
    assert state["last_event_id"] == reads[0].last.id
