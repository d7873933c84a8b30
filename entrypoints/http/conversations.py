"""The chat API: conversations and their messages."""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from litestar import Controller, get, post
from litestar.di import NamedDependency
from litestar.exceptions import ValidationException
from litestar.params import FromPath, HeaderParameter, JSONBody, QueryParameter
from litestar.status_codes import HTTP_201_CREATED, HTTP_202_ACCEPTED

from application.ports.unit_of_work import UnitOfWorkFactory
from application.queries import owned_conversation
from application.use_cases.create_conversation import (
    CreateConversation,
    CreateConversationCommand,
)
from application.use_cases.send_message import (
    MessageAccepted,
    SendMessage,
    SendMessageCommand,
)
from domain.conversations import Principal
from entrypoints.http.dependencies import use_case
from entrypoints.http.schemas import (
    ConversationCreate,
    ConversationOut,
    ConversationPage,
    MessageAcceptedOut,
    MessageCreate,
    MessageOut,
    MessagePage,
)

PageSize = Annotated[int, QueryParameter(ge=1, le=200, description="Items per page.")]
Cursor = Annotated[
    UUID | None, QueryParameter(description="Return items older than the item with this id.")
]
IdempotencyKey = Annotated[
    str | None,
    HeaderParameter(
        name="Idempotency-Key",
        min_length=1,
        max_length=200,
        description="Repeat a request safely: the same key returns the first result.",
    ),
]


class ConversationController(Controller):
    path = "/conversations"
    tags = ["conversations"]
    dependencies = {
        "create_conversation": use_case("create_conversation"),
        "send_message": use_case("send_message"),
    }

    @post("/", status_code=HTTP_201_CREATED, summary="Start a conversation")
    async def create(
        self,
        data: JSONBody[ConversationCreate],
        principal: NamedDependency[Principal],
        create_conversation: NamedDependency[CreateConversation],
    ) -> ConversationOut:
        command = CreateConversationCommand(principal.owner, data.title)
        return ConversationOut.of(await create_conversation.execute(command))

    @get("/", summary="The caller's conversations, most recently active first")
    async def list_conversations(
        self,
        principal: NamedDependency[Principal],
        uow_factory: NamedDependency[UnitOfWorkFactory],
        limit: PageSize = 50,
        before: Cursor = None,
    ) -> ConversationPage:
        async with uow_factory() as uow:
            if before is not None:
                cursor = await uow.conversations.get(before)
                if cursor is None or not cursor.is_owned_by(principal.owner):
                    raise _unknown_cursor()
            found = await uow.conversations.list_for(principal.owner, limit + 1, before)
        items = [ConversationOut.of(c) for c in found[:limit]]
        more = len(found) > limit
        return ConversationPage(items=items, next_before=items[-1].id if more else None)

    @get("/{conversation_id:str}", summary="One conversation")
    async def get_conversation(
        self,
        conversation_id: FromPath[UUID],
        principal: NamedDependency[Principal],
        uow_factory: NamedDependency[UnitOfWorkFactory],
    ) -> ConversationOut:
        async with uow_factory() as uow:
            return ConversationOut.of(
                await owned_conversation(uow, principal.owner, conversation_id)
            )

    @get("/{conversation_id:str}/messages", summary="A page of messages, oldest first")
    async def list_messages(
        self,
        conversation_id: FromPath[UUID],
        principal: NamedDependency[Principal],
        uow_factory: NamedDependency[UnitOfWorkFactory],
        limit: PageSize = 50,
        before: Cursor = None,
    ) -> MessagePage:
        async with uow_factory() as uow:
            await owned_conversation(uow, principal.owner, conversation_id)
            if before is not None:
                cursor = await uow.messages.get(before)
                if cursor is None or cursor.conversation_id != conversation_id:
                    raise _unknown_cursor()
            found = await uow.messages.page(conversation_id, limit + 1, before)
        more = len(found) > limit
        items = [MessageOut.of(m) for m in found[-limit:]]
        return MessagePage(items=items, next_before=items[0].id if more else None)

    @post(
        "/{conversation_id:str}/messages",
        status_code=HTTP_202_ACCEPTED,
        summary="Send a message; the reply streams over the live channels",
    )
    async def send(
        self,
        conversation_id: FromPath[UUID],
        data: JSONBody[MessageCreate],
        principal: NamedDependency[Principal],
        send_message: NamedDependency[SendMessage],
        idempotency_key: IdempotencyKey = None,
    ) -> MessageAcceptedOut:
        command = SendMessageCommand(principal, conversation_id, data.content, idempotency_key)
        return accepted_out(await send_message.execute(command))


def accepted_out(accepted: MessageAccepted) -> MessageAcceptedOut:
    return MessageAcceptedOut(
        message=MessageOut.of(accepted.message),
        reply_id=accepted.reply_id,
        route=accepted.route.value,
    )


def _unknown_cursor() -> ValidationException:
    return ValidationException(
        "unknown cursor",
        extra=[{"key": "before", "message": "no such item here", "source": "query"}],
    )
