import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence

from application.ports.background import BackgroundWork
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
    """Keeps submitted work until the test runs it, in order."""

    def __init__(self) -> None:
        self.submitted: list[tuple[str, Callable[[], Awaitable[None]]]] = []

    def submit(self, key: str, work: Callable[[], Awaitable[None]]) -> None:
        self.submitted.append((key, work))

    async def run_all(self) -> None:
        while self.submitted:
            _, work = self.submitted.pop(0)
            await work()
