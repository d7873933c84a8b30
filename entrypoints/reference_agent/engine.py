"""The scripted ReAct engine: runs a script into a session's event log as a task of its own.

A run never depends on the connection that started it. Responses (execute, resume, poll) only
read the log, so a client that goes away, is cut off or stalls changes nothing in the run.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta

import msgspec

from entrypoints.reference_agent.config import Clock, ReferenceAgentConfig
from entrypoints.reference_agent.counters import Counters
from entrypoints.reference_agent.scenarios import Script
from entrypoints.reference_agent.sessions import PendingQuestion, Session, Status
from entrypoints.reference_agent.wire import (
    AnswerChunk,
    AskUser,
    Complete,
    Error,
    EventData,
    ToolEnd,
    ToolStart,
    rfc3339,
)

log = logging.getLogger("convo.reference_agent")


@dataclass(frozen=True, slots=True)
class RunPacing:
    first_event_s: float
    event_delay_s: float


@dataclass(slots=True)
class _Run:
    turn_input: str
    input_tokens: int
    on_answer: Callable[[str], Script] | None = None
    parts: list[str] = field(default_factory=list)
    tools_started: dict[str, float] = field(default_factory=dict)


class Engine:
    def __init__(self, config: ReferenceAgentConfig, clock: Clock, counters: Counters) -> None:
        self._question_ttl = timedelta(seconds=config.question_ttl_s)
        self._clock = clock
        self._counters = counters
        self._tasks: set[asyncio.Task[None]] = set()

    def start(
        self,
        session: Session,
        script: Script,
        turn_input: str,
        input_tokens: int,
        pacing: RunPacing,
    ) -> int:
        """Start a run now; returns the id just before its first event."""
        run_after = session.log.last_id
        session.status = Status.RUNNING
        session.latest_run_after = run_after
        session.updated_at = self._clock()
        run = _Run(turn_input, input_tokens, script.on_answer)
        task = asyncio.create_task(self._run(session, script, run, pacing))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        self._counters.runs_started += 1
        return run_after

    async def close(self) -> None:
        """Cancel every run (the service is stopping)."""
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    async def _run(self, session: Session, script: Script, run: _Run, pacing: RunPacing) -> None:
        try:
            for index, data in enumerate(script.events):
                await asyncio.sleep(pacing.first_event_s if index == 0 else pacing.event_delay_s)
                self._emit(session, data, run)
                if data.TERMINAL:
                    return
            raise RuntimeError("the script ended without a terminal event")
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("run of session %s failed", session.id)
            self._emit(
                session,
                Error(code="internal", message="the reference agent failed", retryable=True),
                run,
            )

    def _emit(self, session: Session, data: EventData, run: _Run) -> None:
        now = self._clock()
        data = self._completed(msgspec.structs.replace(data, session_id=session.id), session, run)
        session.log.append(data.EVENT, msgspec.json.encode(data), data.TERMINAL)
        session.updated_at = now
        self._counters.events_emitted += 1

    def _completed(self, data: EventData, session: Session, run: _Run) -> EventData:
        """Fill what only the run knows, and move the session on at a terminal event."""
        if isinstance(data, AnswerChunk):
            run.parts.append(data.text)
        elif isinstance(data, ToolStart):
            run.tools_started[data.call_id] = time.monotonic()
        elif isinstance(data, ToolEnd) and data.call_id in run.tools_started:
            elapsed = time.monotonic() - run.tools_started.pop(data.call_id)
            data = msgspec.structs.replace(data, duration_ms=round(elapsed * 1000))
        elif isinstance(data, AskUser):
            data = self._ask(data, session, run)
        elif isinstance(data, Complete):
            answer = "".join(run.parts)
            output_tokens = len(answer.split())
            usage = {
                "input_tokens": run.input_tokens,
                "output_tokens": output_tokens,
                "total_tokens": run.input_tokens + output_tokens,
            }
            data = msgspec.structs.replace(data, answer=answer, usage=usage)
            self._end_turn(session, run, Status.COMPLETED)
        elif isinstance(data, Error):
            self._end_turn(session, run, Status.FAILED)
        return data

    def _ask(self, data: AskUser, session: Session, run: _Run) -> AskUser:
        expires_at = self._clock() + self._question_ttl
        question_id = str(uuid.uuid4())
        if run.on_answer is None:
            raise RuntimeError("a script asked a question it cannot continue from")
        session.pending = PendingQuestion(
            question_id=question_id,
            question=data.question,
            choices=list(data.choices),
            expires_at=expires_at,
            turn_input=run.turn_input,
            on_answer=run.on_answer,
        )
        session.status = Status.AWAITING_USER
        return msgspec.structs.replace(
            data, question_id=question_id, expires_at=rfc3339(expires_at)
        )

    @staticmethod
    def _end_turn(session: Session, run: _Run, status: Status) -> None:
        session.memory.append(run.turn_input)
        session.status = status
