from application.agent_failures import QUESTION_EXPIRED
from application.announce import publish_anew
from application.live import EventType, about_conversation
from application.ports.live_events import LiveEvents
from application.ports.unit_of_work import UnitOfWorkFactory
from application.use_cases.end_agent_session import ExpireAgentSessions


class SweepAgentSessions:
    """The scheduler's sweep of agent sessions: idle sessions are completed, sessions whose
    question expired are abandoned (ExpireAgentSessions), and the clients of each abandoned
    session's conversation get `agent.question_expired` with a message fit to show. Returns how
    many sessions ended."""

    def __init__(
        self, expire: ExpireAgentSessions, live: LiveEvents, uow: UnitOfWorkFactory
    ) -> None:
        self._expire = expire
        self._live = live
        self._uow = uow

    async def execute(self) -> int:
        swept = await self._expire.execute()
        for session in swept.abandoned:
            question_id = session.question.question_id if session.question else None
            event = about_conversation(
                EventType.AGENT_QUESTION_EXPIRED,
                session.conversation_id,
                question_id=question_id,
                message=QUESTION_EXPIRED,
            )
            await publish_anew(self._live, self._uow, event)
        return swept.completed + len(swept.abandoned)
