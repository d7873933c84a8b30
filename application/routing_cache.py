"""Routing overrides as the router reads them: from the database, cached for a short time."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Awaitable, Callable

from application.ports.clock import Clock
from application.ports.routing_overrides import OverrideSource
from application.ports.unit_of_work import UnitOfWorkFactory
from domain.conversations import Owner
from domain.routing import Overrides

Loader = Callable[[Owner], Awaitable[Overrides]]


def stored_overrides(uow: UnitOfWorkFactory) -> Loader:
    async def load(owner: Owner) -> Overrides:
        async with uow() as tx:
            return await tx.routing_overrides.for_owner(owner)

    return load


class CachedOverrides(OverrideSource):
    """Each owner's overrides, kept for `ttl_s` seconds (monotonic clock), at most `max_owners`
    of them (least recently read go first). A change made on this instance is seen at once
    (`forget`); one made elsewhere within `ttl_s`."""

    def __init__(self, load: Loader, clock: Clock, ttl_s: float, max_owners: int = 10_000) -> None:
        self._load = load
        self._clock = clock
        self._ttl_s = ttl_s
        self._max = max_owners
        self._cached: OrderedDict[Owner, tuple[float, Overrides]] = OrderedDict()

    async def for_owner(self, owner: Owner) -> Overrides:
        now = self._clock.monotonic()
        hit = self._cached.get(owner)
        if hit is not None and now - hit[0] < self._ttl_s:
            self._cached.move_to_end(owner)
            return hit[1]
        overrides = await self._load(owner)
        self._cached[owner] = (now, overrides)
        self._cached.move_to_end(owner)
        while len(self._cached) > self._max:
            self._cached.popitem(last=False)
        return overrides

    def forget(self, org_id: str) -> None:
        for owner in [o for o in self._cached if o.org_id == org_id]:
            del self._cached[owner]
