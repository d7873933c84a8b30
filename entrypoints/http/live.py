"""Live channels of a conversation: WebSocket and server-sent events, same envelope, same seq."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from typing import Annotated
from uuid import UUID

import msgspec
from litestar import Controller, WebSocket, get, websocket
from litestar.datastructures import State
from litestar.di import NamedDependency
from litestar.exceptions import NotAuthorizedException, ValidationException, WebSocketDisconnect
from litestar.params import FromPath, HeaderParameter, QueryParameter
from litestar.response import ServerSentEvent, ServerSentEventMessage

from application.errors import ConversationNotFound
from application.live import LiveEvent
from application.ports.live_events import SubscriberLagged
from application.use_cases.follow_conversation import (
    FollowCommand,
    FollowConversation,
    LiveStream,
)
from domain.conversations import Principal
from entrypoints.http.dependencies import (
    LIVE_DEPENDENCIES,
    authenticate,
    container_of,
    live_token,
    use_case,
)
from entrypoints.http.errors import PROBLEM_JSON, TITLES
from entrypoints.http.schemas import Problem
from entrypoints.http.streams import HEARTBEAT, with_heartbeats

log = logging.getLogger(__name__)

encode_event = msgspec.json.Encoder().encode

Since = Annotated[
    int | None, QueryParameter(ge=0, description="Replay the events after this seq first.")
]
LastEventId = Annotated[
    str | None,
    HeaderParameter(name="Last-Event-ID", description="Set by EventSource on reconnect."),
]

WS_LAGGED = 4408
encode_problem = msgspec.json.Encoder().encode


def _resume_point(last_event_id: str | None, since: int | None) -> int | None:
    if last_event_id is None or not last_event_id.strip():
        return since
    if not last_event_id.strip().isdigit():
        raise ValidationException(
            "invalid Last-Event-ID",
            extra=[{"key": "Last-Event-ID", "message": "must be a seq number", "source": "header"}],
        )
    return int(last_event_id)


class LiveController(Controller):
    path = "/conversations"
    tags = ["live"]
    dependencies = {**LIVE_DEPENDENCIES, "follow": use_case("follow_conversation")}

    @get(
        "/{conversation_id:str}/events",
        summary="Server-sent events of a conversation",
        description="Each event's `data` is the live envelope and its `id` the envelope's seq. "
        "Reconnect with `Last-Event-ID` (EventSource does it) or `?since=` to get what was "
        "missed first.",
    )
    async def events(
        self,
        conversation_id: FromPath[UUID],
        principal: NamedDependency[Principal],
        follow: NamedDependency[FollowConversation],
        state: State,
        since: Since = None,
        last_event_id: LastEventId = None,
    ) -> ServerSentEvent:
        command = FollowCommand(
            principal.owner, conversation_id, _resume_point(last_event_id, since)
        )
        stream = await follow.execute(command)
        heartbeat_s = state["settings"].sse_heartbeat_s
        return ServerSentEvent(
            _sse_messages(stream, heartbeat_s),
            headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
        )

    @websocket("/{conversation_id:str}/ws")
    async def socket(
        self,
        socket: WebSocket,
        state: State,
    ) -> None:
        """Live events as JSON text frames; `?since=` replays what came after that seq first.

        A refused handshake is answered with problem details and the HTTP status (401, 400,
        404) where the server supports it, otherwise closed with 4000 + that status. Close code
        4408: the client fell behind; reconnect with `?since=` the last seq it saw. 1011: the
        server failed to send (logged).

        It authenticates the caller itself, to refuse the handshake that way, so it builds its
        use case itself too (the `follow` dependency is resolved after `principal`).
        """
        follow = container_of(state).use_cases.follow_conversation()
        try:
            stream = await follow.execute(_follow_command(socket, state))
        except (NotAuthorizedException, ValidationException) as error:
            await _deny(socket, error.status_code, str(error.detail))
            return
        except ConversationNotFound:
            await _deny(socket, 404, "conversation not found")
            return
        try:
            await socket.accept()
        except BaseException:
            await stream.aclose()
            raise
        sender = asyncio.ensure_future(_send_events(socket, stream))
        try:
            await _until_disconnect(socket)
        finally:
            sender.cancel()
            await asyncio.gather(sender, return_exceptions=True)
        if not sender.cancelled() and sender.exception() is not None:
            log.warning("live socket ended: %r", sender.exception())


def _follow_command(socket: WebSocket, state: State) -> FollowCommand:
    """Parse the handshake by hand so that no framework error can echo the URL (and its
    access token) back to the client."""
    principal = authenticate(state, live_token(socket.headers, socket.query_params))
    try:
        conversation_id = UUID(socket.path_params["conversation_id"])
    except ValueError:
        raise _invalid("conversation_id", "must be a UUID", "path") from None
    since_text = socket.query_params.get("since")
    if since_text is not None and not since_text.isdigit():
        raise _invalid("since", "must be a non-negative integer", "query")
    since = int(since_text) if since_text is not None else None
    return FollowCommand(principal.owner, conversation_id, since)


def _invalid(field: str, message: str, source: str) -> ValidationException:
    return ValidationException(
        f"invalid {field}", extra=[{"key": field, "message": message, "source": source}]
    )


async def _deny(socket: WebSocket, status: int, detail: str) -> None:
    if "websocket.http.response" in (socket.scope.get("extensions") or {}):
        body = encode_problem(
            Problem(title=TITLES.get(status, "Error"), status=status, detail=detail)
        )
        await socket.send(
            {
                "type": "websocket.http.response.start",
                "status": status,
                "headers": [
                    (b"content-type", PROBLEM_JSON.encode()),
                    (b"content-length", str(len(body)).encode()),
                ],
            }
        )
        await socket.send(
            {"type": "websocket.http.response.body", "body": body, "more_body": False}
        )
        return
    await socket.close(code=4000 + status, reason=detail)


async def _sse_messages(
    events: LiveStream, heartbeat_s: float
) -> AsyncIterator[ServerSentEventMessage]:
    try:
        async for item in with_heartbeats(aiter(events), heartbeat_s):
            if item is HEARTBEAT:
                yield ServerSentEventMessage(comment="heartbeat", data=None)
            else:
                assert isinstance(item, LiveEvent)
                yield ServerSentEventMessage(data=encode_event(item).decode(), id=str(item.seq))
    except SubscriberLagged:
        return


async def _send_events(socket: WebSocket, events: LiveStream) -> None:
    """Sends until the stream ends, then closes the socket, which ends the handler's reading."""
    code, reason = 1000, ""
    try:
        async for event in events:
            await socket.send_data(encode_event(event).decode(), mode="text")
    except SubscriberLagged:
        code, reason = WS_LAGGED, "fell behind; reconnect with ?since="
    except Exception:
        code = 1011
        raise
    finally:
        await events.aclose()
        if socket.connection_state != "disconnect":
            with contextlib.suppress(Exception):
                await socket.close(code=code, reason=reason)


async def _until_disconnect(socket: WebSocket) -> None:
    """Read and ignore client frames until the client goes away."""
    with contextlib.suppress(WebSocketDisconnect):
        while True:
            await socket.receive_data(mode="text")
