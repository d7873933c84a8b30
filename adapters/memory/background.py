import asyncio
import logging

from application.ports.background import BackgroundWork, Work

log = logging.getLogger(__name__)


class _Slot:
    __slots__ = ("_work", "first")

    def __init__(self, first: bool, work: asyncio.Future[Work | None]) -> None:
        self.first = first
        self._work = work

    def fill(self, work: Work) -> None:
        if not self._work.done():
            self._work.set_result(work)

    def release(self) -> None:
        if not self._work.done():
            self._work.set_result(None)


class AsyncioBackgroundWork(BackgroundWork):
    """Runs submitted work as asyncio tasks, one key at a time in submission order.

    Work is chained per key: each item awaits the previous one under the same key. A reserved
    slot is an item whose work arrives later; the items behind it wait for it to be filled or
    released. `close` cancels what is still running so that each item can record how it was
    interrupted.
    """

    def __init__(self) -> None:
        self._tails: dict[str, asyncio.Task[None]] = {}
        self._tasks: set[asyncio.Task[None]] = set()

    def submit(self, key: str, work: Work) -> None:
        self.reserve(key).fill(work)

    def reserve(self, key: str) -> _Slot:
        loop = asyncio.get_running_loop()
        previous = self._tails.get(key)
        work: asyncio.Future[Work | None] = loop.create_future()
        task = loop.create_task(self._run(key, previous, work))
        self._tails[key] = task
        self._tasks.add(task)
        task.add_done_callback(lambda done: self._forget(key, done))
        return _Slot(previous is None, work)

    async def _run(
        self, key: str, previous: asyncio.Task[None] | None, slot: asyncio.Future[Work | None]
    ) -> None:
        if previous is not None:
            await asyncio.wait([previous])
        work = await slot
        if work is None:
            return
        try:
            await work()
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("background work failed key=%s", key)

    def _forget(self, key: str, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        if self._tails.get(key) is task:
            del self._tails[key]

    async def drain(self) -> None:
        """Wait until no submitted work is left, including work submitted meanwhile."""
        while self._tasks:
            await asyncio.wait(set(self._tasks))

    async def close(self, grace_s: float = 5.0) -> None:
        """Cancel running work and give it `grace_s` to record the interruption."""
        tasks = set(self._tasks)
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.wait(tasks, timeout=grace_s)
