"""Live agent conversations through the use cases, over fakes of every port and a scripted
agent: what users see live, what is stored, and what happens to the session."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from datetime import timedelta
from uuid import UUID

import pytest

from adapters.memory.background import AsyncioBackgroundWork
from adapters.memory.live_events import InProcessLiveEvents
from application.agent_event_processor import AgentReplyPolicy
from application.agent_failures import AGENT_FAILED, BUSY, INTERRUPTED, QUESTION_EXPIRED, STALLED
from application.errors import AgentBusy, ConversationNotFound
from application.event_seqs import EventSeqs, SeqsInTransaction
from application.ports.agent_gateway import AgentUnavailable
from application.ports.live_events import RESTART_MARGIN
from application.use_cases.answer_agent_question import AnswerCommand
from application.use_cases.end_agent_session import EndSessionCommand
from application.use_cases.produce_agent_reply import AgentReplyJob as Job
from application.use_cases.send_message import MessageAccepted, SendMessageCommand
from application.use_cases.set_routing_override import OverrideCommand
from domain.agent_events import (
    AgentFailed,
    AnswerChunk,
    QuestionAsked,
    Thought,
    ToolFinished,
    ToolStarted,
    TurnCompleted,
    UnknownAgentEvent,
)
from domain.agent_sessions import AgentSession, QuestionExpired, QuestionMismatch, SessionStatus
from domain.conversations import Principal
from domain.errors import InvalidField
from domain.messages import MessageStatus, Role, ToolStatus
from domain.routing import BusyPolicy, IntentKeywords, Override, Route, RoutingRules
from tests.fakes.delegation import ScriptedAgentGateway
from tests.unit.application.conftest import ALICE, BOB, World

SEARCH = [
    Thought(event_id=1, session_id="agent-1", text="I should search the docs"),
    ToolStarted(event_id=2, call_id="c1", tool="search", input={"q": "vpn"}),
    ToolFinished(event_id=3, call_id="c1", tool="search", output="3 hits"),
    AnswerChunk(event_id=4, text="VPN setup "),
    AnswerChunk(event_id=5, text="starts here."),
    TurnCompleted(event_id=6, answer="VPN setup starts here.", usage={"total_tokens": 42}),
]
ASKING = [
    Thought(event_id=1, session_id="agent-1", text="ambiguous"),
    QuestionAsked(
        event_id=2, question_id="q1", question="Which office?", choices=("Berlin", "Paris")
    ),
]
AFTER_ANSWER = [
    AnswerChunk(event_id=3, text="Booked in "),
    AnswerChunk(event_id=4, text="Paris."),
    TurnCompleted(event_id=5),
]


async def send(world: World, content: str, key: str | None = None) -> MessageAccepted:
    conversation = await world.conversation()
    return await send_to(world, conversation.id, content, key)


async def send_to(
    world: World, conversation_id: UUID, content: str, key: str | None = None
) -> MessageAccepted:
    command = SendMessageCommand(ALICE, conversation_id, content, key)
    return await world.send_message().execute(command)


def queued_job(world: World) -> Job:
    """The agent job the only send so far left in the background (held by its closure)."""
    [(_, work)] = world.background.submitted
    cells = getattr(work, "__closure__", None) or ()
    [job] = [c.cell_contents for c in cells if isinstance(c.cell_contents, Job)]
    return job


def types(events) -> list[str]:  # type: ignore[no-untyped-def]
    return [event.type for event in events]


async def test_an_agent_turn_shows_thinking_tools_and_the_streamed_answer(world: World) -> None:
    world.gateway = ScriptedAgentGateway(SEARCH)
    accepted = await send(world, "/agent search the docs for vpn")
    assert accepted.route is Route.AGENT
    await world.background.run_all()

    events = await world.events(accepted.message.conversation_id)
    assert types(events) == [
        "message.created",
        "message.created",
        "agent.thinking",
        "agent.tool_started",
        "agent.tool_finished",
        "message.delta",
        "message.delta",
        "message.completed",
        "agent.completed",
    ]
    assert [e.seq for e in events] == list(range(1, len(events) + 1))
    assert all(e.message_id == accepted.reply_id for e in events[2:])
    thinking, started, finished = events[2], events[3], events[4]
    assert thinking.data == {}  # no thought text unless configured
    assert started.data == {"call_id": "c1", "tool": "search"}
    assert finished.data["status"] == "ok" and isinstance(finished.data["duration_ms"], int)
    assert events[-1].data == {"usage": {"total_tokens": 42}}
    assert world.gateway.requests[0].input == "search the docs for vpn"

    reply = await world.stored_message(accepted.reply_id)
    deltas = "".join(e.data["delta"] for e in events if e.type == "message.delta")
    assert reply.content == deltas == "VPN setup starts here."
    assert reply.status is MessageStatus.COMPLETE
    assert reply.agent is not None and [(t.tool, t.status) for t in reply.agent.tools] == [
        ("search", ToolStatus.OK)
    ]
    assert events[-2].data["message"]["agent"]["tools"][0]["tool"] == "search"
    session = await world.live_session(accepted.message.conversation_id)
    assert session is not None and session.status is SessionStatus.ACTIVE
    assert (session.turn_running, session.last_event_id, session.agent_session_id) == (
        False,
        6,
        "agent-1",
    )


async def test_details_of_thoughts_and_tools_are_shown_only_when_configured(world: World) -> None:
    world.reply_policy = AgentReplyPolicy(show_details=True)
    world.gateway = ScriptedAgentGateway(SEARCH)
    accepted = await send(world, "/agent search")
    await world.background.run_all()
    events = await world.events(accepted.message.conversation_id)
    assert events[2].data == {"text": "I should search the docs"}
    assert events[3].data["input"] == {"q": "vpn"} and events[4].data["output"] == "3 hits"


async def test_the_answer_of_complete_is_used_when_no_chunks_came(world: World) -> None:
    world.gateway = ScriptedAgentGateway(
        [
            Thought(event_id=1, session_id="a", text="t"),
            TurnCompleted(event_id=2, answer="All done."),
        ]
    )
    accepted = await send(world, "/agent do it")
    await world.background.run_all()
    events = await world.events(accepted.message.conversation_id)
    assert [e.data["delta"] for e in events if e.type == "message.delta"] == ["All done."]
    assert (await world.stored_message(accepted.reply_id)).content == "All done."


async def test_a_question_ends_the_reply_with_it_and_the_session_waits(world: World) -> None:
    world.gateway = ScriptedAgentGateway(ASKING, AFTER_ANSWER)
    accepted = await send(world, "/agent book a room")
    await world.background.run_all()

    events = await world.events(accepted.message.conversation_id)
    question = next(e for e in events if e.type == "agent.question")
    assert question.data["question_id"] == "q1" and question.data["choices"] == ["Berlin", "Paris"]
    assert question.data["expires_at"] == world.clock.now() + timedelta(minutes=5)
    legacy = [e for e in events if e.type.startswith("message.")]
    assert legacy[-1].type == "message.completed"
    assert legacy[-1].data["message"]["content"] == "Which office?\n- Berlin\n- Paris"
    reply = await world.stored_message(accepted.reply_id)
    assert reply.agent is not None and reply.agent.question_id == "q1"
    session = await world.live_session(accepted.message.conversation_id)
    assert session is not None and session.status is SessionStatus.AWAITING_USER


async def test_an_answer_resumes_the_run_into_a_new_reply_once(world: World) -> None:
    world.gateway = ScriptedAgentGateway(ASKING, AFTER_ANSWER)
    accepted = await send(world, "/agent book a room")
    await world.background.run_all()
    conversation_id = accepted.message.conversation_id

    command = AnswerCommand(ALICE, conversation_id, "q1", " Paris ")
    answered = await world.submit_answer().execute(command)
    again = await world.submit_answer().execute(command)
    await world.background.run_all()

    assert (again.message.id, again.reply_id, again.replayed) == (
        answered.message.id,
        answered.reply_id,
        True,
    )
    assert answered.message.content == "Paris" and answered.route is Route.AGENT
    resumed = world.gateway.requests[-1]
    assert resumed.answer is not None and resumed.answer.text == "Paris"
    assert resumed.session_id == "agent-1" and len(world.gateway.requests) == 2
    reply = await world.stored_message(answered.reply_id)
    assert (reply.content, reply.status) == ("Booked in Paris.", MessageStatus.COMPLETE)
    session = await world.live_session(conversation_id)
    assert session is not None and session.status is SessionStatus.ACTIVE


async def test_answers_that_do_not_fit_are_refused_without_storing_anything(world: World) -> None:
    world.gateway = ScriptedAgentGateway(ASKING)
    accepted = await send(world, "/agent book a room")
    await world.background.run_all()
    conversation_id = accepted.message.conversation_id
    before = len(world.store.tables.messages)
    with pytest.raises(QuestionMismatch):
        await world.submit_answer().execute(AnswerCommand(ALICE, conversation_id, "q9", "x"))
    world.clock.advance(301)
    with pytest.raises(QuestionExpired):
        await world.submit_answer().execute(AnswerCommand(ALICE, conversation_id, "q1", "x"))
    assert len(world.store.tables.messages) == before
    session = await world.live_session(conversation_id)
    assert session is not None and session.status is SessionStatus.ABANDONED


async def test_a_plain_message_while_a_question_waits_is_its_answer(world: World) -> None:
    world.gateway = ScriptedAgentGateway(ASKING, AFTER_ANSWER)
    accepted = await send(world, "/agent book a room")
    await world.background.run_all()
    second = await send_to(world, accepted.message.conversation_id, "Paris please")
    await world.background.run_all()

    assert second.route is Route.AGENT
    assert world.gateway.requests[-1].answer is not None
    assert world.gateway.requests[-1].answer.text == "Paris please"
    assert (await world.stored_message(second.reply_id)).content == "Booked in Paris."


async def test_an_expired_question_lets_the_next_agent_message_start_fresh(world: World) -> None:
    world.gateway = ScriptedAgentGateway(ASKING, SEARCH)
    accepted = await send(world, "/agent book a room")
    await world.background.run_all()
    conversation_id = accepted.message.conversation_id
    world.clock.advance(301)

    assert await world.sweep().execute() == 1
    notice = (await world.events(conversation_id))[-1]
    assert notice.type == "agent.question_expired"
    assert notice.data == {"question_id": "q1", "message": QUESTION_EXPIRED}
    first = await world.live_session(conversation_id)

    again = await send_to(world, conversation_id, "/agent search again")
    await world.background.run_all()
    assert world.gateway.requests[-1].session_id is None  # a new agent session
    latest = await world.live_session(conversation_id)
    assert latest is not None and first is not None and latest.id != first.id
    assert (await world.stored_message(again.reply_id)).status is MessageStatus.COMPLETE


async def test_an_agent_error_is_shown_kindly_fails_the_session_and_is_kept(world: World) -> None:
    failing = [
        AnswerChunk(event_id=1, session_id="agent-1", text="Partial "),
        AgentFailed(event_id=2, code="tool_crashed", message="Traceback: secret internals"),
    ]
    world.gateway = ScriptedAgentGateway(failing)
    accepted = await send(world, "/agent run code please")
    await world.background.run_all()

    events = await world.events(accepted.message.conversation_id)
    error = next(e for e in events if e.type == "agent.error")
    assert error.data == {"message": AGENT_FAILED, "retryable": False}
    assert events[-1].type == "message.failed" and events[-1].data["reason"] == AGENT_FAILED
    assert "secret" not in str([e.data for e in events])
    reply = await world.stored_message(accepted.reply_id)
    assert (reply.content, reply.status) == ("Partial ", MessageStatus.FAILED)
    session = await world.live_session(accepted.message.conversation_id)
    assert session is not None and session.status is SessionStatus.FAILED
    [letter] = world.store.tables.dead_letters
    assert (letter.error_kind, letter.error_code, letter.reply_id) == (
        "agent_error",
        "tool_crashed",
        accepted.reply_id,
    )
    assert letter.request["input"] == "run code please"
    assert letter.request["user_context"]["user_id"] == "alice"


async def test_an_unreachable_agent_fails_the_reply_but_keeps_the_session(world: World) -> None:
    world.gateway = ScriptedAgentGateway(SEARCH, fail_with=AgentUnavailable("down"), fail_after=1)
    accepted = await send(world, "/agent search")
    await world.background.run_all()
    reply = await world.stored_message(accepted.reply_id)
    assert reply.status is MessageStatus.FAILED
    session = await world.live_session(accepted.message.conversation_id)
    assert session is not None and session.status is SessionStatus.ACTIVE
    assert not session.turn_running and session.last_event_id == 1
    assert world.store.tables.dead_letters[0].error_kind == "agent_unavailable"


async def test_unknown_events_are_skipped(world: World) -> None:
    world.gateway = ScriptedAgentGateway(
        [
            UnknownAgentEvent(event_id=1, session_id="a", kind="PLAN", data={"x": 1}),
            AnswerChunk(event_id=2, text="ok"),
            TurnCompleted(event_id=3),
        ]
    )
    accepted = await send(world, "/agent search")
    await world.background.run_all()
    assert (await world.stored_message(accepted.reply_id)).content == "ok"


async def test_writes_are_coalesced_and_carry_the_last_event_id(world: World) -> None:
    chunks = [AnswerChunk(event_id=n, session_id="a", text=f"{n} ") for n in range(1, 201)]
    world.gateway = ScriptedAgentGateway([*chunks, TurnCompleted(event_id=201)], hold_after=150)
    world.reply_policy = AgentReplyPolicy(
        flush=world.flush_policy.__class__(10.0, 100), group_window_s=0
    )
    accepted = await send(world, "/agent search")
    commits = world.store.tables.commits
    job = asyncio.ensure_future(world.background.run_all())
    await world.gateway.held.wait()
    await asyncio.sleep(0.01)

    midway = await world.stored_message(accepted.reply_id)
    session = await world.live_session(accepted.message.conversation_id)
    assert session is not None and 0 < session.last_event_id <= 150
    expected = "".join(f"{n} " for n in range(1, session.last_event_id + 1))
    assert midway.content == expected  # stored text matches the stored event id
    world.gateway.release.set()
    await job
    assert world.store.tables.commits - commits < 40  # not one write per chunk (200)
    assert (await world.stored_message(accepted.reply_id)).content == "".join(
        f"{n} " for n in range(1, 201)
    )


async def test_a_slow_consumer_holds_back_reading_from_the_agent(world: World) -> None:
    gate = asyncio.Event()

    class SlowLive(type(world.live)):  # type: ignore[misc]
        async def publish(self, event):  # type: ignore[no-untyped-def]
            if event.type == "message.delta":
                await gate.wait()
            return await super().publish(event)

    world.live = SlowLive()
    world.reply_policy = AgentReplyPolicy(queue_size=5)
    chunks = [AnswerChunk(event_id=n, session_id="a", text="x") for n in range(1, 101)]
    world.gateway = ScriptedAgentGateway([*chunks, TurnCompleted(event_id=101)])
    await send(world, "/agent search")
    job = asyncio.ensure_future(world.background.run_all())
    await asyncio.sleep(0.05)
    assert world.gateway.pulled <= 5 + 2  # queue + the one being handled + the one waiting
    gate.set()
    await job
    assert world.gateway.pulled == 101


async def test_ending_the_session_mid_turn_interrupts_the_reply(world: World) -> None:
    world.reply_policy = AgentReplyPolicy(flush=world.flush_policy.__class__(10.0, 1))
    world.gateway = ScriptedAgentGateway(SEARCH, hold_after=4)
    accepted = await send(world, "/agent search")
    job = asyncio.ensure_future(world.background.run_all())
    await world.gateway.held.wait()
    await world.end().execute(EndSessionCommand(ALICE, accepted.message.conversation_id))
    world.gateway.release.set()
    await job
    events = await world.events(accepted.message.conversation_id)
    assert events[-1].type == "message.failed" and events[-1].data["reason"] == INTERRUPTED
    assert (await world.stored_message(accepted.reply_id)).status is MessageStatus.FAILED


async def test_a_session_ended_while_the_agent_is_quiet_interrupts_the_reply_at_once(
    world: World,
) -> None:
    """The quiet turn's lease renewal, asked for by the process's sweep, finds the session
    ended: the turn is woken and ends the reply before the agent says anything more."""
    world.reply_policy = AgentReplyPolicy(
        flush=world.flush_policy.__class__(10.0, 1), lease=timedelta(seconds=3)
    )
    world.gateway = ScriptedAgentGateway(SEARCH, hold_after=4)
    accepted = await send(world, "/agent search")
    job = asyncio.ensure_future(world.background.run_all())
    await world.gateway.held.wait()
    await world.end().execute(EndSessionCommand(ALICE, accepted.message.conversation_id))

    world.clock.advance(1.5)  # half the lease: the quiet turn renews it
    async with asyncio.timeout(5):
        while (await world.stored_message(accepted.reply_id)).status is not MessageStatus.FAILED:
            await asyncio.sleep(0.01)

    events = await world.events(accepted.message.conversation_id)
    assert events[-1].type == "message.failed" and events[-1].data["reason"] == INTERRUPTED
    world.gateway.release.set()
    await job
    assert (await world.events(accepted.message.conversation_id))[-1] == events[-1]


async def test_the_reject_policy_refuses_a_message_while_a_turn_runs(world: World) -> None:
    world.gateway = ScriptedAgentGateway(SEARCH, hold_after=2)
    world_router = world.router

    def rejecting(cache=None, enabled=True):  # type: ignore[no-untyped-def]
        router = world_router(cache, enabled)
        router._rules = RoutingRules(True, IntentKeywords.of(["search"]), BusyPolicy.REJECT)
        return router

    world.router = rejecting  # type: ignore[method-assign]
    accepted = await send(world, "/agent search")
    job = asyncio.ensure_future(world.background.run_all())
    await world.gateway.held.wait()
    stored = len(world.store.tables.messages)
    with pytest.raises(AgentBusy):
        await send_to(world, accepted.message.conversation_id, "/agent more")
    assert len(world.store.tables.messages) == stored
    world.gateway.release.set()
    await job


async def test_a_message_nothing_waits_before_starts_its_turn_as_it_is_stored(
    world: World,
) -> None:
    world.gateway = ScriptedAgentGateway(SEARCH)
    accepted = await send(world, "/agent search the docs for vpn")

    session = await world.live_session(accepted.message.conversation_id)
    assert session is not None and session.turn_running
    assert session.turn_reply_id == accepted.reply_id
    assert world.gateway.requests == []  # sent by the job, outside the storing transaction
    claimed = queued_job(world).claimed
    assert claimed is not None
    assert claimed.history.messages == ()  # the conversation's first: nothing to read
    await world.background.run_all()
    assert world.gateway.requests[0].input == "search the docs for vpn"
    assert world.gateway.requests[0].chat_history == ()
    assert (await world.stored_message(accepted.reply_id)).status is MessageStatus.COMPLETE


async def test_a_later_message_starting_its_turn_as_it_is_stored_reads_the_history(
    world: World,
) -> None:
    world.gateway = ScriptedAgentGateway(SEARCH, SEARCH)
    first = await send(world, "/agent search the docs for vpn")
    await world.background.run_all()
    second = await send_to(world, first.message.conversation_id, "/agent and for wifi")

    claimed = queued_job(world).claimed
    assert claimed is not None
    assert [m.id for m in claimed.history.messages] == [
        first.message.id,
        first.reply_id,
        second.message.id,
    ]
    await world.background.run_all()
    assert claimed.history.messages == ()  # not kept with the job for the whole turn
    assert [t.role for t in world.gateway.requests[1].chat_history] == [Role.USER, Role.ASSISTANT]


async def test_an_agent_message_behind_a_direct_reply_sees_that_reply(world: World) -> None:
    world.gateway = ScriptedAgentGateway(SEARCH)
    first = await send(world, "hello")
    second = await send_to(world, first.message.conversation_id, "/agent search the docs")
    assert await world.live_session(first.message.conversation_id) is None

    await world.background.run_all()
    [request] = world.gateway.requests
    assert [(t.role, t.content) for t in request.chat_history] == [
        (Role.USER, "hello"),
        (Role.ASSISTANT, "Hello there"),
    ]
    assert (await world.stored_message(second.reply_id)).status is MessageStatus.COMPLETE


async def test_a_turn_another_instance_starts_meanwhile_is_waited_for(world: World) -> None:
    world.gateway = ScriptedAgentGateway(SEARCH)
    conversation = await world.conversation()
    theirs = AgentSession.open(world.ids.new_id(), conversation.id, "default", world.clock.now())
    theirs.assign_turn(world.ids.new_id(), world.clock.now() + timedelta(seconds=30))
    world_router = world.router

    def racing(cache=None, enabled=True):  # type: ignore[no-untyped-def]
        router = world_router(cache, enabled)
        decide = router.decide

        def deciding(command, session, overrides):  # type: ignore[no-untyped-def]
            world.store.tables.delegation.sessions.setdefault(theirs.id, theirs)
            return decide(command, session, overrides)

        router.decide = deciding
        return router

    world.router = racing  # type: ignore[method-assign]
    accepted = await send_to(world, conversation.id, "/agent search")

    session = await world.live_session(conversation.id)
    assert session is not None and session.id == theirs.id
    assert session.turn_reply_id == theirs.turn_reply_id
    assert [m.id for m in world.store.tables.messages.values()] == [
        accepted.message.id,
        accepted.reply_id,
    ]
    [(_, job)] = world.background.submitted
    world.store.tables.delegation.sessions.pop(theirs.id)  # their turn ended
    await job()
    assert world.gateway.requests[0].input == "search"
    assert (await world.stored_message(accepted.reply_id)).status is MessageStatus.COMPLETE


async def test_a_message_whose_announcement_failed_still_gets_its_turn(world: World) -> None:
    world.gateway = ScriptedAgentGateway(SEARCH)
    conversation = await world.conversation()
    publish = world.live.publish

    async def bus_down_once(event):  # type: ignore[no-untyped-def]
        world.live.publish = publish  # type: ignore[method-assign]
        raise ConnectionError("bus unreachable")

    world.live.publish = bus_down_once  # type: ignore[method-assign]
    with pytest.raises(ConnectionError):
        await send_to(world, conversation.id, "/agent search")

    await world.background.run_all()
    [reply] = [m for m in world.store.tables.messages.values() if m.reply_to is not None]
    assert (await world.stored_message(reply.id)).status is MessageStatus.COMPLETE
    session = await world.live_session(conversation.id)
    assert session is not None and not session.turn_running


async def test_a_queued_message_waits_for_the_running_turn(world: World) -> None:
    world.gateway = ScriptedAgentGateway(SEARCH, hold_after=2)
    first = await send(world, "/agent search")
    second = await send_to(world, first.message.conversation_id, "/agent and then?")
    session = await world.live_session(first.message.conversation_id)
    assert session is not None and session.turn_reply_id == first.reply_id
    jobs = list(world.background.submitted)
    world.background.submitted.clear()
    running = asyncio.ensure_future(jobs[0][1]())
    await world.gateway.held.wait()
    waiting = asyncio.ensure_future(jobs[1][1]())
    await asyncio.sleep(0.05)
    assert len(world.gateway.requests) == 1  # the second waits for the first turn to end
    world.gateway.hold_after = None
    world.gateway.release.set()
    await asyncio.gather(running, waiting)
    assert len(world.gateway.requests) == 2
    assert (await world.stored_message(second.reply_id)).status is MessageStatus.COMPLETE


async def test_a_queued_message_gives_up_when_the_turn_never_ends(world: World) -> None:
    world.gateway = ScriptedAgentGateway(SEARCH, hold_after=2)
    first = await send(world, "/agent search")
    second = await send_to(world, first.message.conversation_id, "/agent and then?")
    jobs = list(world.background.submitted)
    running = asyncio.ensure_future(jobs[0][1]())
    await world.gateway.held.wait()
    waiting = asyncio.ensure_future(jobs[1][1]())
    await asyncio.sleep(0.02)
    world.clock.advance(3)  # longer than the busy wait of the test world (2 s)
    await waiting
    reply = await world.stored_message(second.reply_id)
    assert reply.status is MessageStatus.FAILED
    assert (await world.events(first.message.conversation_id))[-1].data["reason"] == BUSY
    world.gateway.release.set()
    await running


async def test_an_agent_command_needs_text_after_it(world: World) -> None:
    with pytest.raises(InvalidField) as refused:
        await send(world, "/agent   ")
    assert refused.value.field == "content"


async def test_a_repeated_key_returns_the_first_route(world: World) -> None:
    conversation = await world.conversation()
    first = await send_to(world, conversation.id, "/agent search", key="k1")
    again = await send_to(world, conversation.id, "/agent search", key="k1")
    assert (again.route, again.reply_id, again.replayed) == (Route.AGENT, first.reply_id, True)


async def test_while_the_agent_is_down_agent_messages_go_to_the_direct_model(world: World) -> None:
    world.gateway = ScriptedAgentGateway(SEARCH, healthy=False)
    availability = __import__("application.agent_availability", fromlist=["x"]).AgentAvailability(
        lambda: world.gateway, world.metrics, interval_s=60
    )
    await availability.check()
    send_message = world.send_message()
    send_message._agent_available = availability.available
    conversation = await world.conversation()
    accepted = await send_message.execute(
        SendMessageCommand(ALICE, conversation.id, "/agent search")
    )
    assert accepted.route is Route.LLM
    assert world.metrics.total("convo_routing_decisions", reason="agent_unavailable") == 1


async def test_a_turn_cut_off_by_a_shutdown_is_resumed_without_loss_or_repeat(
    world: World,
) -> None:
    chunks = [AnswerChunk(event_id=n, session_id="agent-1", text=f"{n} ") for n in range(1, 31)]
    world.gateway = ScriptedAgentGateway([*chunks, TurnCompleted(event_id=31)], hold_after=20)
    world.reply_policy = AgentReplyPolicy(flush=world.flush_policy.__class__(10.0, 10))
    accepted = await send(world, "/agent search")
    job = asyncio.ensure_future(world.background.run_all())
    await world.gateway.held.wait()
    job.cancel()
    await asyncio.gather(job, return_exceptions=True)

    stopped = await world.stored_message(accepted.reply_id)
    session = await world.live_session(accepted.message.conversation_id)
    assert stopped.status is MessageStatus.STREAMING and session is not None
    assert session.turn_running and session.turn_reply_id == accepted.reply_id
    world.live = type(world.live)()  # the restarted process has fresh live events
    world.gateway.hold_after = None

    resumed = await world.recover().execute(everything=True)
    await world.background.run_all()

    assert resumed == {accepted.reply_id}
    reply = await world.stored_message(accepted.reply_id)
    assert (reply.content, reply.status) == (
        "".join(f"{n} " for n in range(1, 31)),
        MessageStatus.COMPLETE,
    )
    events = list(await world.live.held_after(accepted.message.conversation_id, 0))
    assert events[0].seq > stopped.event_seq + RESTART_MARGIN  # no number reused
    assert events[0].type == "message.created"  # the reply as stored, for clients to replace
    assert events[0].data["message"]["content"] == stopped.content
    resumed_text = "".join(e.data["delta"] for e in events if e.type == "message.delta")
    assert stopped.content + resumed_text == reply.content
    assert types(events[-2:]) == ["message.completed", "agent.completed"]


async def test_a_turn_nobody_can_resume_is_reaped_with_a_notice(world: World) -> None:
    world.gateway = ScriptedAgentGateway(SEARCH, hold_after=3)
    accepted = await send(world, "/agent search")
    job = asyncio.ensure_future(world.background.run_all())
    await world.gateway.held.wait()
    job.cancel()
    await asyncio.gather(job, return_exceptions=True)

    assert await world.reaper().execute() == 0  # the lease is still fresh
    world.clock.advance(400)
    assert await world.reaper().execute() == 1
    assert await world.reaper().execute() == 0
    session = await world.live_session(accepted.message.conversation_id)
    assert session is not None and session.status is SessionStatus.FAILED
    reply = await world.stored_message(accepted.reply_id)
    assert reply.status is MessageStatus.FAILED
    events = await world.events(accepted.message.conversation_id)
    assert events[-1].type == "notice" and events[-1].data["message"] == STALLED
    assert events[-2].data["reason"] == STALLED


async def test_a_stranger_cannot_answer(world: World) -> None:
    world.gateway = ScriptedAgentGateway(ASKING)
    accepted = await send(world, "/agent book a room")
    await world.background.run_all()
    stranger = AnswerCommand(BOB, accepted.message.conversation_id, "q1", "Paris")
    with pytest.raises(ConversationNotFound):
        await world.submit_answer().execute(stranger)


async def test_an_organisation_s_question_timeout_replaces_the_default(world: World) -> None:
    world.gateway = ScriptedAgentGateway(ASKING)
    admin = Principal(ALICE.owner, frozenset({"convo:admin"}))
    await world.set_override(world.cache()).execute(
        OverrideCommand(admin, "acme", None, Override(question_ttl_s=90))
    )
    accepted = await send(world, "/agent book a room")
    await world.background.run_all()
    question = next(
        e
        for e in await world.events(accepted.message.conversation_id)
        if e.type == "agent.question"
    )
    assert question.data["expires_at"] == world.clock.now() + timedelta(seconds=90)
    with pytest.raises(InvalidField, match="question_ttl_s"):
        await world.set_override(world.cache()).execute(
            OverrideCommand(admin, "acme", "alice", Override(question_ttl_s=90))
        )


async def test_a_turn_still_consumed_here_is_never_taken_over_but_kept(world: World) -> None:
    world.gateway = ScriptedAgentGateway(SEARCH, hold_after=3)
    processor = world.processor()
    world.processor = lambda: processor  # type: ignore[method-assign]
    accepted = await send(world, "/agent search")
    job = asyncio.ensure_future(world.background.run_all())
    await world.gateway.held.wait()
    world.clock.advance(45)  # the consumer is late with its writes: its lease lapsed

    recover = world.recover()
    recover._local = processor.consuming
    assert await recover.execute() == set()
    session = await world.live_session(accepted.message.conversation_id)
    assert session is not None
    assert not session.lease_expired(world.clock.now())  # renewed on the consumer's behalf

    world.gateway.release.set()
    await job
    reply = await world.stored_message(accepted.reply_id)
    assert (reply.status, reply.content) == (MessageStatus.COMPLETE, "VPN setup starts here.")


async def test_a_slow_database_delays_writes_not_live_events(world: World) -> None:
    gate = asyncio.Event()
    original = world.store.uow

    class SlowWrites(type(original())):  # type: ignore[misc]
        async def commit(self) -> None:
            await gate.wait()
            await super().commit()

    chunks = [AnswerChunk(event_id=n, session_id="a", text=f"{n} ") for n in range(1, 31)]
    world.gateway = ScriptedAgentGateway([*chunks, TurnCompleted(event_id=31)], pause_s=0.001)
    world.reply_policy = AgentReplyPolicy(flush=world.flush_policy.__class__(10.0, 1))
    accepted = await send(world, "/agent search")
    world.store.uow = lambda: SlowWrites(world.store.tables)  # type: ignore[method-assign]
    job = asyncio.ensure_future(world.background.run_all())
    async with asyncio.timeout(5):
        while world.gateway.pulled < 31:
            await asyncio.sleep(0.005)
    await asyncio.sleep(0.02)
    deltas = [
        e for e in await world.events(accepted.message.conversation_id) if e.type == "message.delta"
    ]
    assert len(deltas) == 30  # every chunk reached clients while the first write still waits
    gate.set()
    await job
    reply = await world.stored_message(accepted.reply_id)
    assert (reply.status, reply.content) == (
        MessageStatus.COMPLETE,
        "".join(f"{n} " for n in range(1, 31)),
    )


async def test_an_agent_messages_turn_is_under_way_before_its_seqs_are_written() -> None:
    """The agent's request goes out before the new messages' seqs are written (the write
    delays the `202`, not the reply's first chunk)."""
    world = World(
        live=InProcessLiveEvents(replay_size=100, subscriber_queue=100),
        background=AsyncioBackgroundWork(),  # type: ignore[arg-type]
    )
    world.gateway = ScriptedAgentGateway(SEARCH)
    order: list[str] = []
    execute = world.gateway.execute_agent

    async def noted(request):  # type: ignore[no-untyped-def]
        order.append("agent stream read")
        async for event in execute(request):
            yield event

    world.gateway.execute_agent = noted  # type: ignore[method-assign]
    seqs = SeqsInTransaction(world.store.uow)

    class NotedSeqs:
        async def record(self, written: Mapping[UUID, int]) -> None:
            order.append("seqs written")
            await seqs.record(written)

    world.event_seqs = EventSeqs(NotedSeqs())
    accepted = await send(world, "/agent search")
    await world.background.drain()
    assert order[:2] == ["agent stream read", "seqs written"]
    assert (await world.stored_message(accepted.reply_id)).status is MessageStatus.COMPLETE
