"""How handlers reach the composition root: Litestar `Provide` functions reading app state."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from litestar.datastructures import Headers, State
from litestar.di import NamedDependency, Provide
from litestar.exceptions import NotAuthorizedException
from litestar.params import QueryParams

from application.ports.unit_of_work import UnitOfWorkFactory
from domain.conversations import Principal
from entrypoints.auth import InvalidToken, read_token
from entrypoints.container import Container


def container_of(state: State) -> Container:
    return state["container"]


def use_case(name: str) -> Provide:
    """The named use case from the container, for a request: built afresh, or the one
    instance where the container keeps one (those every message goes through hold nothing of
    a request's, and building `SendMessage` with its router cost 27 µs a message).

    It takes `principal` without using it: Litestar resolves the dependencies of one level
    concurrently, in an anyio task group with a task each, which cost about a third of a small
    request's handling (`POST .../messages`, the live channels); a level below `principal`,
    each is awaited directly. Nothing is built for a caller who is refused, too."""

    def provide(state: State, principal: NamedDependency[Principal]) -> Any:
        return getattr(container_of(state).use_cases, name)()

    return Provide(provide, sync_to_thread=False)


def _uow_factory(state: State, principal: NamedDependency[Principal]) -> UnitOfWorkFactory:
    """Below `principal` for the reason `use_case` gives."""
    return container_of(state).adapters.uow


def bearer(authorization: str | None) -> str | None:
    if not authorization:
        return None
    scheme, _, token = authorization.partition(" ")
    return token.strip() if scheme.lower() == "bearer" and token.strip() else None


def authenticate(state: State, token: str | None) -> Principal:
    if token is None:
        raise NotAuthorizedException("missing bearer token")
    try:
        return read_token(state["jwt_secret"], token)
    except InvalidToken as error:
        raise NotAuthorizedException(str(error)) from None


def _principal(state: State, headers: Headers) -> Principal:
    return authenticate(state, bearer(headers.get("authorization")))


def live_token(headers: Mapping[str, str], query: Mapping[str, Any]) -> str | None:
    """Live channels also take the token as `access_token`: browsers cannot set headers on
    EventSource or WebSocket."""
    return bearer(headers.get("authorization")) or query.get("access_token") or None


def _live_principal(state: State, headers: Headers, query: QueryParams) -> Principal:
    return authenticate(state, live_token(headers, query))


API_DEPENDENCIES = {
    "principal": Provide(_principal, sync_to_thread=False),
    "uow_factory": Provide(_uow_factory, sync_to_thread=False),
}
LIVE_DEPENDENCIES = {"principal": Provide(_live_principal, sync_to_thread=False)}
