"""Operators' API: agent routing overrides per organisation and per user.

Every route needs a token granting `convo:admin` (403 otherwise), and only for the caller's own
organisation. Changes apply on this instance at once and on the others within
`CONVO_ROUTING_OVERRIDES_TTL_S`.
"""

from __future__ import annotations

from typing import Annotated, Literal

import msgspec
from litestar import Controller, delete, get, put
from litestar.connection import ASGIConnection
from litestar.di import NamedDependency
from litestar.exceptions import PermissionDeniedException
from litestar.handlers.base import BaseRouteHandler
from litestar.params import JSONBody, PathParameter
from litestar.status_codes import HTTP_204_NO_CONTENT
from msgspec import Meta

from application.ports.unit_of_work import UnitOfWorkFactory
from application.use_cases.set_routing_override import (
    ADMIN_PERMISSION,
    OverrideCommand,
    SetRoutingOverride,
    require_admin,
)
from domain.conversations import Owner, Principal
from domain.routing import BusyPolicy, Override
from entrypoints.http.dependencies import authenticate, bearer, use_case

OrgId = Annotated[str, PathParameter(min_length=1, max_length=200, description="Organisation")]
UserId = Annotated[str, PathParameter(min_length=1, max_length=200, description="User")]


class OrganisationOverrideIn(msgspec.Struct, forbid_unknown_fields=True):
    agent_routing: bool | None = None
    busy_policy: Literal["reject", "enqueue", "interrupt"] | None = None
    question_ttl_s: Annotated[float, Meta(gt=0, le=86_400)] | None = None


class UserOverrideIn(msgspec.Struct, forbid_unknown_fields=True):
    agent_routing: bool | None = None


class OrganisationOverrideOut(msgspec.Struct):
    org_id: str
    agent_routing: bool | None
    busy_policy: str | None
    question_ttl_s: float | None = None


class UserOverrideOut(msgspec.Struct):
    org_id: str
    user_id: str
    agent_routing: bool | None


class RoutingOverridesOut(msgspec.Struct):
    organisation: OrganisationOverrideOut
    users: list[UserOverrideOut]


def admin_only(connection: ASGIConnection, _: BaseRouteHandler) -> None:
    principal = authenticate(connection.app.state, bearer(connection.headers.get("authorization")))
    if not principal.may(ADMIN_PERMISSION):
        raise PermissionDeniedException(f"needs the {ADMIN_PERMISSION} permission")


def _org_out(org_id: str, override: Override) -> OrganisationOverrideOut:
    policy = override.busy_policy.value if override.busy_policy else None
    return OrganisationOverrideOut(org_id, override.agent_routing, policy, override.question_ttl_s)


class RoutingAdminController(Controller):
    path = "/admin/routing/organisations"
    tags = ["admin"]
    guards = [admin_only]
    dependencies = {"set_override": use_case("set_routing_override")}

    @get("/{org_id:str}", summary="An organisation's agent routing overrides and its users'")
    async def overrides(
        self,
        org_id: OrgId,
        principal: NamedDependency[Principal],
        uow_factory: NamedDependency[UnitOfWorkFactory],
    ) -> RoutingOverridesOut:
        require_admin(principal, org_id)
        async with uow_factory() as uow:
            found = await uow.routing_overrides.for_owner(Owner(org_id, ""))
            users = await uow.routing_overrides.users_of(org_id)
        return RoutingOverridesOut(
            organisation=_org_out(org_id, found.org),
            users=[UserOverrideOut(org_id, user, o.agent_routing) for user, o in users],
        )

    @put(
        "/{org_id:str}",
        summary="Set the organisation's switch, busy policy and question timeout",
    )
    async def put_organisation(
        self,
        org_id: OrgId,
        data: JSONBody[OrganisationOverrideIn],
        principal: NamedDependency[Principal],
        set_override: NamedDependency[SetRoutingOverride],
    ) -> OrganisationOverrideOut:
        policy = BusyPolicy(data.busy_policy) if data.busy_policy else None
        override = Override(data.agent_routing, policy, data.question_ttl_s)
        await set_override.execute(OverrideCommand(principal, org_id, None, override))
        return _org_out(org_id, override)

    @delete("/{org_id:str}", status_code=HTTP_204_NO_CONTENT, summary="Remove it")
    async def delete_organisation(
        self,
        org_id: OrgId,
        principal: NamedDependency[Principal],
        set_override: NamedDependency[SetRoutingOverride],
    ) -> None:
        await set_override.execute(OverrideCommand(principal, org_id, None, None))

    @put("/{org_id:str}/users/{user_id:str}", summary="Set a user's switch")
    async def put_user(
        self,
        org_id: OrgId,
        user_id: UserId,
        data: JSONBody[UserOverrideIn],
        principal: NamedDependency[Principal],
        set_override: NamedDependency[SetRoutingOverride],
    ) -> UserOverrideOut:
        override = Override(data.agent_routing)
        await set_override.execute(OverrideCommand(principal, org_id, user_id, override))
        return UserOverrideOut(org_id, user_id, data.agent_routing)

    @delete(
        "/{org_id:str}/users/{user_id:str}",
        status_code=HTTP_204_NO_CONTENT,
        summary="Remove a user's switch",
    )
    async def delete_user(
        self,
        org_id: OrgId,
        user_id: UserId,
        principal: NamedDependency[Principal],
        set_override: NamedDependency[SetRoutingOverride],
    ) -> None:
        await set_override.execute(OverrideCommand(principal, org_id, user_id, None))
