"""The agent side of a conversation: its session, and the user's answers to its questions."""

from __future__ import annotations

from uuid import UUID

from litestar import Controller, Response, delete, get, post
from litestar.di import NamedDependency
from litestar.params import FromPath, JSONBody
from litestar.status_codes import HTTP_202_ACCEPTED, HTTP_204_NO_CONTENT

from application.errors import NoAgentSession
from application.ports.unit_of_work import UnitOfWorkFactory
from application.queries import owned_conversation
from application.use_cases.answer_agent_question import AnswerCommand
from application.use_cases.end_agent_session import EndAgentSession, EndSessionCommand
from application.use_cases.submit_agent_answer import SubmitAgentAnswer
from domain.conversations import Principal
from entrypoints.http.conversations import accepted_out
from entrypoints.http.dependencies import use_case
from entrypoints.http.schemas import AgentAnswerIn, AgentSessionOut, MessageAcceptedOut


class AgentController(Controller):
    path = "/conversations/{conversation_id:str}"
    tags = ["agent"]
    dependencies = {
        "submit_agent_answer": use_case("submit_agent_answer"),
        "end_agent_session": use_case("end_agent_session"),
    }

    @post(
        "/agent-answer",
        status_code=HTTP_202_ACCEPTED,
        summary="Answer the agent's question; the resumed run streams into a new reply",
        description="409 when no question waits or another question is named; 410 when the "
        "question expired (the session is abandoned; the next agent message starts a new one). "
        "Sending the same answer again returns the first result. A plain chat message sent "
        "while a question waits counts as its answer too.",
    )
    async def answer(
        self,
        conversation_id: FromPath[UUID],
        data: JSONBody[AgentAnswerIn],
        principal: NamedDependency[Principal],
        submit_agent_answer: NamedDependency[SubmitAgentAnswer],
    ) -> MessageAcceptedOut:
        command = AnswerCommand(principal, conversation_id, data.question_id, data.answer)
        return accepted_out(await submit_agent_answer.execute(command))

    @get("/agent-session", summary="The conversation's latest agent session")
    async def session(
        self,
        conversation_id: FromPath[UUID],
        principal: NamedDependency[Principal],
        uow_factory: NamedDependency[UnitOfWorkFactory],
    ) -> AgentSessionOut:
        async with uow_factory() as uow:
            await owned_conversation(uow, principal.owner, conversation_id)
            session = await uow.agent_sessions.latest_for(conversation_id)
        if session is None:
            raise NoAgentSession(str(conversation_id))
        return AgentSessionOut.of(session)

    @delete(
        "/agent-session",
        status_code=HTTP_204_NO_CONTENT,
        summary="End the live agent session; the next agent message starts a new one",
    )
    async def end(
        self,
        conversation_id: FromPath[UUID],
        principal: NamedDependency[Principal],
        end_agent_session: NamedDependency[EndAgentSession],
    ) -> Response[None]:
        await end_agent_session.execute(EndSessionCommand(principal, conversation_id))
        return Response(None, status_code=HTTP_204_NO_CONTENT)
