from __future__ import annotations

from dataclasses import dataclass

from application.errors import NotPermitted
from application.ports.clock import Clock
from application.ports.routing_overrides import OverrideSource
from application.ports.unit_of_work import UnitOfWorkFactory
from domain.conversations import Principal
from domain.errors import InvalidField
from domain.routing import Override

ADMIN_PERMISSION = "convo:admin"


@dataclass(frozen=True, slots=True)
class OverrideCommand:
    """Set (`override` given) or remove (None) the override of an organisation (`user_id`
    None) or of one of its users."""

    principal: Principal
    org_id: str
    user_id: str | None
    override: Override | None


class SetRoutingOverride:
    """Change an agent routing switch.

    Rules:
    - only a caller whose token grants `convo:admin`, and only for its own organisation;
    - a busy policy belongs to an organisation, never to a user;
    - this instance sees the change at once; other instances within the cache's TTL.
    Returns whether something changed (a removal of nothing changes nothing).
    """

    def __init__(self, uow: UnitOfWorkFactory, clock: Clock, cache: OverrideSource) -> None:
        self._uow = uow
        self._clock = clock
        self._cache = cache

    async def execute(self, command: OverrideCommand) -> bool:
        require_admin(command.principal, command.org_id)
        override = command.override
        if override is not None and command.user_id is not None:
            if override.busy_policy:
                raise InvalidField("busy_policy", "applies to an organisation, not to a user")
            if override.question_ttl_s is not None:
                raise InvalidField("question_ttl_s", "applies to an organisation, not to a user")
        async with self._uow() as uow:
            if override is None:
                changed = await uow.routing_overrides.delete(command.org_id, command.user_id)
            else:
                await uow.routing_overrides.put(
                    command.org_id, command.user_id, override, self._clock.now()
                )
                changed = True
            await uow.commit()
        self._cache.forget(command.org_id)
        return changed


def require_admin(principal: Principal, org_id: str) -> None:
    """The caller administers `org_id`, or NotPermitted."""
    if not principal.may(ADMIN_PERMISSION) or principal.owner.org_id != org_id:
        raise NotPermitted(f"needs {ADMIN_PERMISSION} in organisation {org_id!r}")
