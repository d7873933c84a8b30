from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import Row, delete, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection

from adapters.sql.tables import routing_overrides
from application.ports.routing_overrides import RoutingOverrideRepository
from domain.conversations import Owner
from domain.routing import BusyPolicy, Override, Overrides

_o = routing_overrides.c
ORGANISATION = ""


def _override(row: Row | None) -> Override:
    if row is None:
        return Override()
    policy = BusyPolicy(row.busy_policy) if row.busy_policy else None
    return Override(
        agent_routing=row.agent_routing, busy_policy=policy, question_ttl_s=row.question_ttl_s
    )


class SqlRoutingOverrideRepository(RoutingOverrideRepository):
    """One row per organisation (user_id '') and per user with an override."""

    def __init__(self, connection: AsyncConnection) -> None:
        self._connection = connection

    async def for_owner(self, owner: Owner) -> Overrides:
        query = select(routing_overrides).where(
            _o.org_id == owner.org_id, _o.user_id.in_([ORGANISATION, owner.user_id])
        )
        rows = {row.user_id: row for row in await self._connection.execute(query)}
        return Overrides(
            org=_override(rows.get(ORGANISATION)), user=_override(rows.get(owner.user_id))
        )

    async def put(
        self, org_id: str, user_id: str | None, override: Override, now: datetime
    ) -> None:
        dialect = postgresql if self._connection.dialect.name == "postgresql" else sqlite
        values = {
            "agent_routing": override.agent_routing,
            "busy_policy": override.busy_policy.value if override.busy_policy else None,
            "question_ttl_s": override.question_ttl_s,
            "updated_at": now,
        }
        statement = dialect.insert(routing_overrides).values(
            values | {"org_id": org_id, "user_id": user_id or ORGANISATION}
        )
        await self._connection.execute(
            statement.on_conflict_do_update(index_elements=["org_id", "user_id"], set_=values)
        )

    async def delete(self, org_id: str, user_id: str | None) -> bool:
        result = await self._connection.execute(
            delete(routing_overrides).where(
                _o.org_id == org_id, _o.user_id == (user_id or ORGANISATION)
            )
        )
        return result.rowcount > 0

    async def users_of(self, org_id: str) -> Sequence[tuple[str, Override]]:
        query = (
            select(routing_overrides)
            .where(_o.org_id == org_id, _o.user_id != ORGANISATION)
            .order_by(_o.user_id)
        )
        return [(row.user_id, _override(row)) for row in await self._connection.execute(query)]
