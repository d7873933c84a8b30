"""RouteMessage and the routing overrides, over fakes."""

from __future__ import annotations

import logging

import pytest

from application.errors import ConversationNotFound, NotPermitted
from application.routing_cache import CachedOverrides
from application.use_cases.route_message import DECISIONS, RouteCommand
from application.use_cases.set_routing_override import OverrideCommand
from domain.conversations import Owner, Principal
from domain.errors import InvalidField
from domain.routing import BusyPolicy, Override, Overrides, Reason, Route, TurnAction
from tests.fakes.system import FakeClock
from tests.unit.application.delegation import ALICE, BOB, Delegation

ADMIN = Principal(Owner("acme", "root"), frozenset({"convo:admin"}))


async def test_a_plain_message_goes_direct_and_is_logged_and_counted(
    caplog: pytest.LogCaptureFixture,
) -> None:
    world = Delegation()
    conversation = await world.conversation()
    with caplog.at_level(logging.INFO, logger="convo.routing"):
        decision = await world.router().execute(RouteCommand(ALICE, conversation.id, "hello"))
    assert (decision.route, decision.reason) == (Route.LLM, Reason.NO_AGENT_SIGNAL)
    [line] = [r.getMessage() for r in caplog.records if r.name == "convo.routing"]
    assert line.startswith("routing_decision ") and "route=llm reason=no_agent_signal" in line
    assert "hello" not in line
    assert world.metrics.total(DECISIONS, route="llm", reason="no_agent_signal") == 1


async def test_a_live_session_makes_the_conversation_sticky_and_a_running_turn_queues() -> None:
    world = Delegation()
    conversation = await world.conversation()
    await world.first_turn(conversation)
    decision = await world.router().execute(RouteCommand(ALICE, conversation.id, "and then?"))
    assert (decision.route, decision.reason) == (Route.AGENT, Reason.STICKY_SESSION)
    assert decision.action is TurnAction.ENQUEUE
    assert world.metrics.total(DECISIONS, action="enqueue") == 1


async def test_an_unavailable_agent_is_given_as_a_value() -> None:
    world = Delegation()
    conversation = await world.conversation()
    command = RouteCommand(ALICE, conversation.id, "/agent search", agent_available=False)
    decision = await world.router().execute(command)
    assert (decision.route, decision.reason) == (Route.LLM, Reason.AGENT_UNAVAILABLE)


async def test_the_rollback_switch_sends_everything_direct() -> None:
    world = Delegation()
    conversation = await world.conversation()
    decision = await world.router(enabled=False).execute(
        RouteCommand(ALICE, conversation.id, "/agent search")
    )
    assert decision.reason is Reason.ROUTING_DISABLED and decision.content == "search"


async def test_only_the_owner_may_route_in_a_conversation() -> None:
    world = Delegation()
    conversation = await world.conversation()
    with pytest.raises(ConversationNotFound):
        await world.router().execute(RouteCommand(BOB, conversation.id, "hi"))


async def test_an_override_changed_here_applies_at_once_and_elsewhere_after_the_ttl() -> None:
    world = Delegation()
    conversation = await world.conversation()
    here, elsewhere = world.cache(ttl_s=5), world.cache(ttl_s=5)
    command = RouteCommand(ALICE, conversation.id, "/agent search")
    assert (await world.router(here).execute(command)).route is Route.AGENT
    assert (await world.router(elsewhere).execute(command)).route is Route.AGENT
    off = OverrideCommand(ADMIN, "acme", None, Override(agent_routing=False))
    assert await world.set_override(here).execute(off) is True
    assert (await world.router(here).execute(command)).reason is Reason.DISABLED_FOR_ORG
    assert (await world.router(elsewhere).execute(command)).route is Route.AGENT
    world.clock.advance(5)
    assert (await world.router(elsewhere).execute(command)).reason is Reason.DISABLED_FOR_ORG


async def test_a_user_override_beats_the_organisation_s() -> None:
    world = Delegation()
    conversation = await world.conversation()
    cache = world.cache()
    await world.set_override(cache).execute(OverrideCommand(ADMIN, "acme", None, Override(False)))
    await world.set_override(cache).execute(OverrideCommand(ADMIN, "acme", "alice", Override(True)))
    decision = await world.router(cache).execute(RouteCommand(ALICE, conversation.id, "/agent x"))
    assert decision.route is Route.AGENT
    removed = OverrideCommand(ADMIN, "acme", "alice", None)
    assert await world.set_override(cache).execute(removed) is True
    assert await world.set_override(cache).execute(removed) is False
    decision = await world.router(cache).execute(RouteCommand(ALICE, conversation.id, "/agent x"))
    assert decision.reason is Reason.DISABLED_FOR_ORG


async def test_the_organisation_busy_policy_is_stored_and_applied() -> None:
    world = Delegation()
    conversation = await world.conversation()
    await world.first_turn(conversation)
    cache = world.cache()
    policy = Override(busy_policy=BusyPolicy.REJECT)
    await world.set_override(cache).execute(OverrideCommand(ADMIN, "acme", None, policy))
    decision = await world.router(cache).execute(RouteCommand(ALICE, conversation.id, "more"))
    assert decision.rejected


@pytest.mark.parametrize(
    "principal",
    [
        Principal(Owner("acme", "eve")),
        Principal(Owner("other", "root"), frozenset({"convo:admin"})),
    ],
)
async def test_only_an_admin_of_the_organisation_may_change_its_overrides(
    principal: Principal,
) -> None:
    world = Delegation()
    with pytest.raises(NotPermitted):
        await world.set_override(world.cache()).execute(
            OverrideCommand(principal, "acme", None, Override(False))
        )


async def test_a_busy_policy_is_not_a_user_setting() -> None:
    world = Delegation()
    with pytest.raises(InvalidField, match="busy_policy"):
        await world.set_override(world.cache()).execute(
            OverrideCommand(ADMIN, "acme", "alice", Override(busy_policy=BusyPolicy.REJECT))
        )


async def test_the_override_cache_keeps_the_most_recently_read_owners() -> None:
    loads: list[Owner] = []

    async def load(owner: Owner) -> Overrides:
        loads.append(owner)
        return Overrides()

    clock = FakeClock()
    cache = CachedOverrides(load, clock, ttl_s=10, max_owners=2)
    a, b, c = Owner("o", "a"), Owner("o", "b"), Owner("o", "c")
    for owner in (a, b, a, c, a, b):
        await cache.for_owner(owner)
    assert loads == [a, b, c, b]
    clock.advance(10)
    await cache.for_owner(a)
    assert loads[-1] == a and len(loads) == 5
    cache.forget("o")
    await cache.for_owner(a)
    assert len(loads) == 6
