import asyncio
from collections.abc import AsyncIterator, Sequence

from application.ports.background import BackgroundWork, Work
from application.ports.chat_model import ChatModel, ChatModelError
from domain.messages import ChatTurn


class ScriptedChatModel(ChatModel):
    """Streams the given deltas; optionally fails after `fail_after` of them."""

    def __init__(self, deltas: Sequence[str], fail_after: int | None = None) -> None:
        self.deltas = list(deltas)
        self.fail_after = fail_after
        self.histories: list[list[ChatTurn]] = []
        self.release = asyncio.Event()
        self.release.set()

    async def stream_reply(self, history: Sequence[ChatTurn]) -> AsyncIterator[str]:
        self.histories.append(list(history))
        for index, delta in enumerate(self.deltas):
            if self.fail_after is not None and index == self.fail_after:
                raise ChatModelError("scripted failure")
            await self.release.wait()
            yield delta


class RecordedBackground(BackgroundWork):
    """Keeps submitted work until the test runs it, in order. A key's slot is `first` while
    nothing of that key is kept or reserved."""

    def __init__(self) -> None:
        self.submitted: list[tuple[str, Work]] = []
        self.reserved: list[str] = []

    def submit(self, key: str, work: Work) -> None:
        self.submitted.append((key, work))

    def reserve(self, key: str) -> "_RecordedSlot":
        first = key not in self.reserved and all(k != key for k, _ in self.submitted)
        self.reserved.append(key)
        return _RecordedSlot(self, key, first)

    async def run_all(self) -> None:
        while self.submitted:
            _, work = self.submitted.pop(0)
            await work()


class _RecordedSlot:
    def __init__(self, background: RecordedBackground, key: str, first: bool) -> None:
        self.background = background
        self.key = key
        self.first = first
        self.open = True

    def fill(self, work: Work) -> None:
        if self.open:
            self.release()
            self.background.submit(self.key, work)

    def release(self) -> None:
        if self.open:
            self.open = False
            self.background.reserved.remove(self.key)
