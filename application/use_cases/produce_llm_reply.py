import asyncio
import logging

from application.event_seqs import EventSeqs
from application.live import message_delta
from application.ports.chat_model import ChatModel, ChatModelError
from application.ports.clock import Clock
from application.ports.live_events import LiveEvents
from application.ports.metrics import Metrics
from application.ports.unit_of_work import UnitOfWorkFactory
from application.reply_recorder import FlushPolicy, ReplyRecorder
from application.use_cases.send_message import ReplyJob
from domain.messages import ChatTurn

log = logging.getLogger(__name__)

MODEL_FAILED = "The assistant could not finish this reply. Please try again."
INTERRUPTED = "The reply was interrupted because the service restarted. Please send it again."
UNEXPECTED = "Something went wrong while writing this reply. Please try again."


class ProduceLlmReply:
    """Stream the direct model's reply to a user message into the conversation.

    Rules:
    - the model sees the newest complete messages of the conversation, oldest first;
    - every delta reaches live clients before it is stored, and the stored reply ends equal to
      the concatenation of the deltas sent;
    - a model failure, a shutdown or any other error ends the reply as failed, keeping the text
      produced so far, with a reason fit to show the user.
    """

    def __init__(
        self,
        uow: UnitOfWorkFactory,
        clock: Clock,
        live: LiveEvents,
        event_seqs: EventSeqs,
        model: ChatModel,
        policy: FlushPolicy,
        history_limit: int,
        metrics: Metrics,
    ) -> None:
        self._uow = uow
        self._clock = clock
        self._live = live
        self._event_seqs = event_seqs
        self._model = model
        self._policy = policy
        self._history_limit = history_limit
        self._metrics = metrics

    async def execute(self, job: ReplyJob) -> None:
        async with self._uow() as uow:
            reply = await uow.messages.get(job.reply_id)
            history = await uow.messages.latest(job.conversation_id, self._history_limit)
        if reply is None or not reply.is_streaming:
            return
        recorder = ReplyRecorder(reply, self._uow, self._event_seqs, self._clock, self._policy)
        turns = [ChatTurn(message.role, message.content) for message in history]
        started = self._clock.monotonic()
        try:
            await self._stream(turns, recorder, started)
        except asyncio.CancelledError:
            await self._end_failed(recorder, INTERRUPTED, "interrupted")
            raise
        except ChatModelError as error:
            log.warning("model failed reply=%s: %s", reply.id, error)
            await self._end_failed(recorder, MODEL_FAILED, "model_failed")
        except Exception:
            log.exception("reply failed reply=%s", reply.id)
            await self._end_failed(recorder, UNEXPECTED, "error")
        else:
            reply.complete()
            await recorder.finish(self._live)
            self._metrics.count("convo_replies", route="llm", outcome="completed")
        self._metrics.observe("convo_reply_seconds", self._clock.monotonic() - started, route="llm")

    async def _stream(self, turns: list[ChatTurn], recorder: ReplyRecorder, started: float) -> None:
        async for delta in self._model.stream_reply(turns):
            if not delta:
                continue
            if not recorder.reply.content:
                waited = self._clock.monotonic() - started
                self._metrics.observe("convo_first_delta_seconds", waited, route="llm")
            event = await self._live.publish(message_delta(recorder.reply, delta))
            recorder.append(delta, event.seq)
            if recorder.due():
                await recorder.flush()

    async def _end_failed(self, recorder: ReplyRecorder, reason: str, outcome: str) -> None:
        self._metrics.count("convo_replies", route="llm", outcome=outcome)
        recorder.reply.fail()
        await recorder.finish(self._live, reason)
