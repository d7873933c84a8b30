"""The reference Agent Service's behaviour behind its routes: sessions, runs, idempotency.

Route handlers parse and validate; this decides. `execute` is synchronous on purpose: the
idempotency lookup, the session's status check and the start of the run happen with no await
in between, so concurrent calls can never start two runs in one session or for one key.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from collections.abc import Mapping

import msgspec

from entrypoints.reference_agent.config import Clock, ReferenceAgentConfig, utc_now
from entrypoints.reference_agent.counters import Counters
from entrypoints.reference_agent.engine import Engine, RunPacing
from entrypoints.reference_agent.faults import Faults, FaultSpec, Pacing, Route, injected
from entrypoints.reference_agent.problems import Problem
from entrypoints.reference_agent.scenarios import Script, Turn, plan
from entrypoints.reference_agent.sessions import (
    AtCapacity,
    KeyRecord,
    Session,
    SessionStore,
    Status,
)
from entrypoints.reference_agent.wire import ExecuteBody

log = logging.getLogger("convo.reference_agent")


class ReferenceAgent:
    def __init__(self, config: ReferenceAgentConfig, clock: Clock = utc_now) -> None:
        self.config = config
        self.counters = Counters()
        self.faults = Faults()
        self.store = SessionStore(config, clock)
        self.engine = Engine(config, clock, self.counters)
        self.streams: set[asyncio.Task[object]] = set()

    def resolve_faults(self, route: Route, headers: Mapping[str, str]) -> FaultSpec:
        fault = self.faults.resolve(route, headers)
        if not fault.empty:
            self.counters.faults_applied += 1
        return fault

    async def refuse_if_injected(self, fault: FaultSpec) -> None:
        """Answer with the injected status, after the injected header delay, if there is one."""
        if fault.status is None:
            return
        await self.hold_headers(fault)
        raise injected(fault)

    @staticmethod
    async def hold_headers(fault: FaultSpec) -> None:
        """The injected latency before a response's headers."""
        if fault.headers_delay_ms:
            await asyncio.sleep(fault.headers_delay_ms / 1000)

    def session(self, session_id: str) -> Session:
        session = self.store.get(session_id)
        if session is None:
            raise Problem(404, "session_not_found", f"no session {session_id}")
        return session

    def execute(self, body: ExecuteBody, key: str | None, pacing: Pacing) -> tuple[Session, int]:
        """Start the run the body asks for, or attach to the run its Idempotency-Key started.
        Returns the session and the id just before the run's first event."""
        fingerprint = hashlib.sha256(msgspec.json.encode(body)).digest() if key else b""
        if key is not None and (record := self.store.recall_key(key)) is not None:
            return self._attach(record, fingerprint)
        session, script, turn_input = self._begin(body)
        run_after = self.engine.start(
            session, script, turn_input, _words(body), self._run_pacing(pacing)
        )
        if key is not None:
            self.store.remember_key(key, fingerprint, session, run_after)
        return session, run_after

    def _attach(self, record: KeyRecord, fingerprint: bytes) -> tuple[Session, int]:
        if record.fingerprint != fingerprint:
            raise Problem(
                422, "idempotency_key_reused", "this Idempotency-Key was used with a different body"
            )
        session = self.session(record.session_id)
        if not session.log.holds_after(record.run_after):
            raise Problem(410, "events_expired", "the events of that run are no longer held")
        self.counters.idempotent_attaches += 1
        return session, record.run_after

    def _begin(self, body: ExecuteBody) -> tuple[Session, Script, str]:
        if body.session_id is None:
            try:
                session = self.store.create(body.profile_name)
            except AtCapacity:
                raise Problem(
                    503,
                    "at_capacity",
                    "the reference service holds as many sessions as it may",
                    headers={"Retry-After": "1"},
                ) from None
            return session, plan(self._turn(session, body)), body.input
        session = self.session(body.session_id)
        if session.status is Status.RUNNING:
            raise Problem(
                409,
                "run_in_progress",
                f"session {session.id} is running a turn; wait for its terminal event",
            )
        if body.answer is not None:
            return self._answered(session, body.answer.question_id, body.answer.text)
        if session.status is Status.AWAITING_USER:
            raise Problem(
                409, "question_pending", f"session {session.id} waits for an answer to its question"
            )
        return session, plan(self._turn(session, body)), body.input

    @staticmethod
    def _answered(session: Session, question_id: str, text: str) -> tuple[Session, Script, str]:
        pending = session.pending
        if pending is None:
            if question_id == session.expired_question_id:
                raise Problem(409, "question_expired", f"question {question_id} has expired")
            raise Problem(409, "no_pending_question", f"session {session.id} asked nothing")
        if pending.question_id != question_id:
            raise Problem(
                409, "question_mismatch", f"session {session.id} waits for another question"
            )
        session.pending = None
        return session, pending.on_answer(text), pending.turn_input

    @staticmethod
    def _turn(session: Session, body: ExecuteBody) -> Turn:
        return Turn(
            input=body.input,
            number=len(session.memory) + 1,
            earlier_inputs=tuple(session.memory),
            history_messages=len(body.chat_history),
        )

    def _run_pacing(self, pacing: Pacing) -> RunPacing:
        first = (
            self.config.first_event_ms if pacing.first_event_ms is None else pacing.first_event_ms
        )
        delay = (
            self.config.event_delay_ms if pacing.event_delay_ms is None else pacing.event_delay_ms
        )
        return RunPacing(first / 1000, delay / 1000)

    def heartbeat_s(self, pacing: Pacing) -> float:
        if pacing.heartbeat_ms is None:
            return self.config.heartbeat_s
        return pacing.heartbeat_ms / 1000

    async def sweep(self) -> None:
        """Evict idle sessions, forever, at a quarter of their time to live."""
        period = max(min(self.config.session_ttl_s / 4, 30.0), 0.01)
        while True:
            await asyncio.sleep(period)
            evicted = self.store.evict_idle()
            if evicted:
                log.info("evicted %d idle sessions", evicted)

    async def close(self) -> None:
        for task in list(self.streams):
            task.cancel()
        await self.engine.close()


def _words(body: ExecuteBody) -> int:
    return len(body.input.split()) + sum(len(item.content.split()) for item in body.chat_history)
