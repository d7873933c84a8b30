import asyncio

from adapters.llm.echo import EchoChatModel, echo_tokens
from adapters.memory.background import AsyncioBackgroundWork
from adapters.system.ids import Uuid7Generator
from domain.messages import ChatTurn, Role


def test_echo_tokens_concatenate_back_to_the_text() -> None:
    text = "  Hello,\n world  of\ttokens "
    tokens = echo_tokens(text)
    assert "".join(tokens) == text
    assert len(tokens) > 3


async def test_the_echo_model_answers_the_last_user_message_token_by_token() -> None:
    history = [
        ChatTurn(Role.USER, "first"),
        ChatTurn(Role.ASSISTANT, "x"),
        ChatTurn(Role.USER, "say hi"),
    ]
    deltas = [delta async for delta in EchoChatModel(delay_s=0).stream_reply(history)]
    assert deltas == ["Echo:", " say", " hi"]


def test_uuid7_ids_are_version_7_and_sort_in_creation_order() -> None:
    ids = Uuid7Generator()
    made = [ids.new_id() for _ in range(5000)]
    assert all(u.version == 7 and u.variant == "specified in RFC 4122" for u in made)
    assert made == sorted(made)
    assert [str(u) for u in made] == sorted(str(u) for u in made)
    assert len(set(made)) == len(made)


async def test_background_work_under_one_key_runs_in_submission_order() -> None:
    work, order = AsyncioBackgroundWork(), []

    def job(name: str, pause: float):  # type: ignore[no-untyped-def]
        async def run() -> None:
            await asyncio.sleep(pause)
            order.append(name)

        return run

    work.submit("a", job("a1", 0.03))
    work.submit("a", job("a2", 0.0))
    work.submit("b", job("b1", 0.01))
    await work.drain()
    assert order.index("a1") < order.index("a2")
    assert order[0] == "b1"


async def test_a_reserved_place_keeps_its_order_until_filled_or_released() -> None:
    work, order = AsyncioBackgroundWork(), []

    def job(name: str):  # type: ignore[no-untyped-def]
        async def run() -> None:
            order.append(name)

        return run

    early = work.reserve("a")
    released = work.reserve("a")
    work.submit("a", job("late"))
    other = work.reserve("b")
    assert (early.first, released.first, other.first) == (True, False, True)
    await asyncio.sleep(0.01)
    assert order == []  # the items behind an open place wait for it
    released.release()
    early.fill(job("early"))
    early.fill(job("twice"))
    other.release()
    await work.drain()
    assert order == ["early", "late"]
    after = work.reserve("a")
    assert after.first
    after.release()
    await work.drain()


async def test_a_failing_job_does_not_stop_the_next_one() -> None:
    work, done = AsyncioBackgroundWork(), []

    async def boom() -> None:
        raise RuntimeError("boom")

    async def fine() -> None:
        done.append(True)

    work.submit("k", boom)
    work.submit("k", fine)
    await work.drain()
    assert done == [True]


async def test_closing_cancels_running_work_and_waits_for_it_to_clean_up() -> None:
    work, cleaned = AsyncioBackgroundWork(), []

    async def long() -> None:
        try:
            await asyncio.sleep(60)
        except asyncio.CancelledError:
            cleaned.append(True)
            raise

    work.submit("k", long)
    await asyncio.sleep(0.01)
    await work.close(grace_s=1)
    assert cleaned == [True]
