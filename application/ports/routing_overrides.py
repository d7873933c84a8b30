"""Per-organisation and per-user switches of agent routing, stored by operators."""

from collections.abc import Sequence
from datetime import datetime
from typing import Protocol

from domain.conversations import Owner
from domain.routing import Override, Overrides


class RoutingOverrideRepository(Protocol):
    async def for_owner(self, owner: Owner) -> Overrides:
        """The organisation's and the user's overrides (empty ones where none is stored)."""
        ...

    async def put(
        self, org_id: str, user_id: str | None, override: Override, now: datetime
    ) -> None:
        """Store the override of the organisation (`user_id` None) or of one of its users."""
        ...

    async def delete(self, org_id: str, user_id: str | None) -> bool:
        """Remove it; False when there was none."""
        ...

    async def users_of(self, org_id: str) -> Sequence[tuple[str, Override]]:
        """The users of the organisation that have an override, by user id."""
        ...


class OverrideSource(Protocol):
    """Overrides as the router reads them: possibly a little stale (a short TTL cache)."""

    async def for_owner(self, owner: Owner) -> Overrides: ...

    def forget(self, org_id: str) -> None:
        """Drop what is cached for the organisation, so this instance sees a change at once."""
        ...
