from __future__ import annotations

import logging
from dataclasses import dataclass
from uuid import UUID

from application.ports.metrics import Metrics
from application.ports.routing_overrides import OverrideSource
from application.ports.unit_of_work import UnitOfWorkFactory
from application.queries import owned_conversation_state
from domain.agent_sessions import AgentSession
from domain.conversations import Principal
from domain.routing import Overrides, RoutingDecision, RoutingFacts, RoutingRules, decide

log = logging.getLogger("convo.routing")

DECISIONS = "convo_routing_decisions"


@dataclass(frozen=True, slots=True)
class RouteCommand:
    """`agent_available` is the caller's knowledge of the agent: False while the circuit
    breaker is open or the health check fails."""

    principal: Principal
    conversation_id: UUID
    content: str
    agent_available: bool = True


class RouteMessage:
    """Decide where a user's message goes (MessageRouter rules in `domain.routing`).

    Rules:
    - the conversation must belong to the caller;
    - the facts are read at the moment of the decision: the live session and whether its
      turn runs, the owner's overrides (cached for a few seconds), the agent's availability;
    - each decision is logged as one structured line and counted by route and reason.
    """

    def __init__(
        self,
        uow: UnitOfWorkFactory,
        overrides: OverrideSource,
        rules: RoutingRules,
        metrics: Metrics,
    ) -> None:
        self._uow = uow
        self._overrides = overrides
        self._rules = rules
        self._metrics = metrics

    async def execute(self, command: RouteCommand) -> RoutingDecision:
        owner = command.principal.owner
        overrides = await self.overrides_for(command)
        async with self._uow() as uow:
            state = await owned_conversation_state(uow, owner, command.conversation_id)
        return self.decide(command, state.live_session, overrides)

    async def overrides_for(self, command: RouteCommand) -> Overrides:
        """The owner's overrides, read before the caller's transaction: on a cache miss they
        are loaded in a transaction of their own."""
        return await self._overrides.for_owner(command.principal.owner)

    def decide(
        self, command: RouteCommand, session: AgentSession | None, overrides: Overrides
    ) -> RoutingDecision:
        """The decision on facts the caller read in its own transaction: the conversation's
        live session (ownership checked) and the owner's overrides."""
        facts = RoutingFacts(
            live_session=session is not None,
            turn_running=session is not None and session.turn_running,
            agent_available=command.agent_available,
            overrides=overrides,
        )
        decision = decide(command.content, facts, self._rules)
        action = decision.action.value if decision.action else "none"
        log.info(
            "routing_decision conversation_id=%s org_id=%s route=%s reason=%s action=%s "
            "live_session=%s turn_running=%s agent_available=%s",
            command.conversation_id,
            command.principal.owner.org_id,
            decision.route.value,
            decision.reason.value,
            action,
            str(facts.live_session).lower(),
            str(facts.turn_running).lower(),
            str(facts.agent_available).lower(),
        )
        self._metrics.count(
            DECISIONS, route=decision.route.value, reason=decision.reason.value, action=action
        )
        return decision
