"""Configuration: one typed object read from `CONVO_*` environment variables at start-up.

Each field documents itself; `docs/configuration.md` carries the table `markdown_table()` makes,
and a test keeps the two equal. An invalid value stops start-up with a message naming the
variable and the form it expects.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Annotated, Any, Literal

import msgspec
from msgspec import Meta

from entrypoints.allocator import ARENAS
from entrypoints.collector import GcTuning

PREFIX = "CONVO_"


class Secret:
    """A string that never shows itself in reprs, logs or error messages."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return "Secret('********')"

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)


def _doc(text: str, **constraints: Any) -> Meta:
    return Meta(description=text, **constraints)


class Settings(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    database_url: Annotated[
        str,
        _doc(
            "SQLAlchemy URL of the database: `sqlite+aiosqlite:///path` or "
            "`postgresql+asyncpg://user@host/db` (`postgresql://` is accepted and means asyncpg)."
        ),
    ] = "sqlite+aiosqlite:///./convo.db"
    database_pool_size: Annotated[
        int,
        _doc("Connections kept per process (PostgreSQL); as many again may burst.", ge=1, le=200),
    ] = 10
    auto_migrate: Annotated[
        bool,
        _doc(
            "Upgrade the schema to the newest revision when `convo serve` starts. With several "
            "instances, set it to false and run `convo db upgrade` once per release."
        ),
    ] = True
    redis_url: Annotated[
        str | None,
        _doc(
            "Redis URL (`redis://host:6379/0`). Set it to run several instances: live events "
            "are then numbered, kept for replay and fanned out through Redis. Unset: in-process."
        ),
    ] = None
    redis_prefix: Annotated[
        str, _doc("Prefix of every Redis key and channel convo uses.", min_length=1)
    ] = "convo"
    replay_retention_s: Annotated[
        float,
        _doc(
            "Seconds a quiet conversation's replay buffer is kept (in Redis, or in process "
            "until the scheduler prunes it).",
            gt=0,
        ),
    ] = 3600.0
    jwt_secret: Annotated[
        Secret | None,
        _doc(
            "HS256 secret for bearer tokens (at least 32 characters). Unset: `convo serve` makes "
            "one for the run and prints a dev token."
        ),
    ] = None
    llm_base_url: Annotated[
        str | None,
        _doc(
            "Base URL of an OpenAI-compatible API (for example `https://host/v1`). Unset: the "
            "built-in echo model answers."
        ),
    ] = None
    llm_api_key: Annotated[Secret | None, _doc("API key sent to the OpenAI-compatible API.")] = None
    llm_model: Annotated[str, _doc("Model name sent to the OpenAI-compatible API.")] = "gpt-4o-mini"
    llm_connect_timeout_s: Annotated[float, _doc("Seconds to connect to the model API.", gt=0)] = (
        10.0
    )
    llm_idle_timeout_s: Annotated[
        float, _doc("Seconds without a byte from the model API before the reply fails.", gt=0)
    ] = 60.0
    llm_total_timeout_s: Annotated[float, _doc("Seconds a whole model reply may take.", gt=0)] = (
        300.0
    )
    llm_history_messages: Annotated[
        int, _doc("Newest complete messages given to the direct model as history.", ge=1, le=1000)
    ] = 20
    agent_routing_enabled: Annotated[
        bool,
        _doc(
            "Send messages to the Agent Service when the routing rules say so. false is the "
            "rollback switch: every message goes to the direct model, whatever the overrides."
        ),
    ] = True
    agent_intent_keywords: Annotated[
        str,
        _doc(
            "Comma-separated keywords that route a message to the agent (any case, whole "
            "words); `,` alone for none."
        ),
    ] = "search,analyze file,run code"
    agent_intent_scan_chars: Annotated[
        int,
        _doc(
            "Intent keywords are looked for in a message's first this many characters and its "
            "last quarter as many: a keyword deep inside a pasted document is not a request.",
            ge=100,
            le=32_000,
        ),
    ] = 2000
    agent_busy_policy: Annotated[
        Literal["reject", "enqueue", "interrupt"],
        _doc(
            "What an agent-bound message does while a turn runs, for organisations without "
            "their own policy: refuse it (409), run it after the turn, or cancel the turn."
        ),
    ] = "enqueue"
    agent_profile_name: Annotated[
        str, _doc("Agent profile a new agent session runs.", min_length=1, max_length=100)
    ] = "default"
    routing_overrides_ttl_s: Annotated[
        float,
        _doc(
            "Seconds routing overrides stay cached per instance; a change made on another "
            "instance is seen within this time.",
            ge=0,
        ),
    ] = 5.0
    history_strategy: Annotated[
        Literal["last_messages", "token_budget", "summary"],
        _doc(
            "How the agent's history is windowed: the last messages, the newest that fit the "
            "token budget, or those plus a summary of what falls out."
        ),
    ] = "token_budget"
    history_max_messages: Annotated[
        int, _doc("Messages kept by the `last_messages` strategy.", ge=1, le=1000)
    ] = 10
    history_max_tokens: Annotated[
        int,
        _doc(
            "Token budget of the agent's history, input and summary included (every strategy).",
            ge=16,
            le=1_000_000,
        ),
    ] = 4000
    history_summary_tokens: Annotated[
        int,
        _doc("Tokens kept for the summary (`summary` strategy); less than the budget.", ge=8),
    ] = 400
    history_scan_messages: Annotated[
        int,
        _doc(
            "Newest messages read to build the history; older ones are neither sent nor "
            "summarized.",
            ge=1,
            le=100_000,
        ),
    ] = 500
    history_summarizer: Annotated[
        Literal["extractive", "llm"],
        _doc(
            "Who writes the summary: a built-in extractive summarizer, or the model at "
            "`CONVO_LLM_BASE_URL` (required then)."
        ),
    ] = "extractive"
    tokenizer_encoding: Annotated[
        Literal["o200k_base", "cl100k_base"],
        _doc("BPE vocabulary that counts tokens (offline; counts are cached per message)."),
    ] = "o200k_base"
    agent_question_ttl_s: Annotated[
        float,
        _doc(
            "Seconds a user has to answer an agent's question before the session is "
            "abandoned (sooner if the agent says so).",
            gt=0,
        ),
    ] = 300.0
    agent_session_idle_s: Annotated[
        float,
        _doc("Seconds without interaction after which an agent session is completed.", gt=0),
    ] = 1800.0
    agent_show_details: Annotated[
        bool,
        _doc(
            "Put the agent's thoughts and its tools' inputs and outputs into live events. Off: "
            "clients see that the agent thinks and which tools run, not what they read."
        ),
    ] = False
    agent_event_queue: Annotated[
        int,
        _doc(
            "Agent events read ahead of processing, per turn; beyond it reading waits "
            "(backpressure on the agent's stream).",
            ge=1,
            le=100_000,
        ),
    ] = 256
    agent_turn_lease_s: Annotated[
        float,
        _doc(
            "Seconds a running agent turn stays with its instance without a write; after that "
            "another instance takes it over and resumes it (longer than "
            "`CONVO_SCHEDULER_INTERVAL_S`, whose job also renews the leases of turns its own "
            "process still consumes).",
            ge=1,
        ),
    ] = 60.0
    agent_busy_wait_s: Annotated[
        float,
        _doc(
            "Seconds a message queued behind a running agent turn (busy policy `enqueue`) waits "
            "for it before its reply fails as busy.",
            gt=0,
        ),
    ] = 300.0
    agent_health_interval_s: Annotated[
        float,
        _doc(
            "Seconds between health checks of the Agent Service; while it is down, agent-bound "
            "messages go to the direct model.",
            gt=0,
        ),
    ] = 10.0
    echo_delay_ms: Annotated[
        int, _doc("The echo model's pause between tokens, in milliseconds.", ge=0, le=60_000)
    ] = 20
    reference_agent_first_event_ms: Annotated[
        int,
        _doc(
            "The reference Agent Service's pause before a run's first event (milliseconds).",
            ge=0,
            le=600_000,
        ),
    ] = 200
    reference_agent_event_delay_ms: Annotated[
        int,
        _doc(
            "The reference Agent Service's pause between a run's events (milliseconds).",
            ge=0,
            le=600_000,
        ),
    ] = 40
    reference_agent_heartbeat_s: Annotated[
        float,
        _doc(
            "Seconds without an event before a reference Agent Service stream sends a heartbeat.",
            gt=0,
            le=3600,
        ),
    ] = 15.0
    reference_agent_question_ttl_s: Annotated[
        float,
        _doc(
            "Seconds the reference Agent Service waits for the answer to a question before the "
            "session becomes IDLE.",
            gt=0,
        ),
    ] = 300.0
    reference_agent_session_ttl_s: Annotated[
        float,
        _doc(
            "Seconds a reference Agent Service session may stay idle before it is forgotten.",
            gt=0,
        ),
    ] = 3600.0
    reference_agent_max_sessions: Annotated[
        int,
        _doc(
            "Sessions the reference Agent Service holds in memory at most; beyond, new ones get "
            "503 once idle ones are evicted.",
            ge=1,
            le=10_000_000,
        ),
    ] = 10_000
    reply_flush_interval_ms: Annotated[
        int,
        _doc("A streaming reply is written at most this often (milliseconds)…", ge=1, le=60_000),
    ] = 250
    reply_flush_chars: Annotated[
        int, _doc("…or as soon as this many characters wait to be written…", ge=1)
    ] = 4096
    reply_flush_events: Annotated[
        int,
        _doc(
            "…or this many live events were published for it (below 1,000: after a crash, "
            "numbering resumes 1,000 past what was written).",
            ge=1,
            le=999,
        ),
    ] = 200
    replay_buffer_events: Annotated[
        int,
        _doc(
            "Live events kept per conversation for clients that reconnect; older gaps are "
            "filled from the stored messages.",
            ge=1,
            le=1_000_000,
        ),
    ] = 1000
    replay_conversations: Annotated[
        int,
        _doc(
            "Conversations whose replay buffer is kept in memory (in-process events); the least "
            "recently active unwatched ones are forgotten beyond this.",
            ge=1,
        ),
    ] = 2000
    subscriber_queue_events: Annotated[
        int,
        _doc(
            "Events a slow live client may fall behind before it is disconnected (it then "
            "reconnects and catches up).",
            ge=2,
            le=1_000_000,
        ),
    ] = 1000
    sse_heartbeat_s: Annotated[
        float, _doc("Seconds between heartbeat comments on idle SSE streams.", gt=0)
    ] = 15.0
    shutdown_grace_s: Annotated[
        float,
        _doc("Seconds running replies get to record an interruption on shutdown.", ge=0),
    ] = 5.0
    scheduler_enabled: Annotated[
        bool,
        _doc(
            "Run the periodic jobs inside `convo serve`. Turn it off where `convo scheduler` "
            "runs them instead (several instances may run them at once either way)."
        ),
    ] = True
    scheduler_interval_s: Annotated[
        float, _doc("Seconds between runs of the periodic jobs (±20% jitter).", gt=0)
    ] = 30.0
    log_level: Annotated[
        Literal["DEBUG", "INFO", "WARNING", "ERROR"], _doc("Lowest level of log lines written.")
    ] = "INFO"
    event_loop: Annotated[
        Literal["uvloop", "asyncio"],
        _doc(
            "Event loop of `convo serve` and `convo scheduler`: `uvloop` (about a fifth less CPU "
            "per relayed event, docs/performance.md) or the standard library's `asyncio`."
        ),
    ] = "uvloop"
    gc_tuning: Annotated[
        GcTuning,
        _doc(
            "Garbage collector thresholds of `convo serve`: `server` (50,000, 20, 100), "
            "collections 70 times rarer, less CPU per relayed event and no full collection "
            "pausing a burst of streams (architecture/0018), or `python`, Python's own "
            "(700, 10, 10)."
        ),
    ] = "server"
    malloc_arenas: Annotated[
        int,
        _doc(
            "Malloc arenas the threads of `convo serve` share (glibc): `1`, about a third less "
            "memory per active session at 100 agent streams on SQLite at the same CPU "
            "(docs/performance.md), or `0` for glibc's default of up to 8 per core. "
            "`MALLOC_ARENA_MAX`, where set, wins.",
            ge=0,
            le=64,
        ),
    ] = ARENAS
    agent_service_url: Annotated[
        str | None,
        _doc(
            "Base URL of the Agent Service (for example `http://agents:8080`). Unset: `convo "
            "serve` starts the bundled reference Agent Service on a free loopback port."
        ),
    ] = None
    agent_api_key: Annotated[
        Secret | None,
        _doc(
            "API key sent to the Agent Service as `X-API-Key`; `convo reference-agent` accepts "
            "only this key."
        ),
    ] = None
    agent_connect_timeout_s: Annotated[
        float, _doc("Seconds to open a connection to the Agent Service.", gt=0)
    ] = 10.0
    agent_headers_timeout_s: Annotated[
        float,
        _doc(
            "Seconds an Agent Service call may wait for its response headers; later is a "
            "timeout, not retried.",
            gt=0,
        ),
    ] = 60.0
    agent_heartbeat_interval_s: Annotated[
        float,
        _doc(
            "The Agent Service's heartbeat interval: a stream silent for three of them (no byte, "
            "heartbeats included) is dead and is resumed.",
            gt=0,
        ),
    ] = 15.0
    agent_stream_timeout_s: Annotated[
        float,
        _doc(
            "Seconds one agent run may take from execute to its terminal event, reconnections "
            "and polling included; past it the run fails with a timeout.",
            gt=0,
        ),
    ] = 300.0
    agent_request_timeout_s: Annotated[
        float, _doc("Seconds a session status or poll call may take, retries included.", gt=0)
    ] = 10.0
    agent_unavailable_retries: Annotated[
        int,
        _doc("Retries of an Agent Service call after connection errors or 503.", ge=0, le=10),
    ] = 3
    agent_server_error_retries: Annotated[
        int, _doc("Retries of an Agent Service call after a 500.", ge=0, le=10)
    ] = 1
    agent_backoff_base_s: Annotated[
        float,
        _doc(
            "First wait before a retry or reconnection; each next one doubles (1 s, 2 s, 4 s).",
            gt=0,
        ),
    ] = 1.0
    agent_backoff_jitter: Annotated[
        float, _doc("Each wait is spread by up to this fraction of itself, up or down.", ge=0, lt=1)
    ] = 0.25
    agent_max_retry_after_s: Annotated[
        float,
        _doc("A `Retry-After` asking for longer than this many seconds ends the retries.", ge=0),
    ] = 30.0
    agent_reconnect_attempts: Annotated[
        int,
        _doc(
            "Failed reconnections to a broken stream, in a row, before the run is polled "
            "instead; every event received resets the count.",
            ge=0,
            le=100,
        ),
    ] = 3
    agent_poll_interval_s: Annotated[
        float, _doc("Pause between polls that found no new event (poll fallback).", gt=0)
    ] = 1.0
    agent_poll_wait_s: Annotated[
        float,
        _doc(
            "How long one poll may wait on the Agent Service for a new event (long polling); "
            "must be shorter than `CONVO_AGENT_REQUEST_TIMEOUT_S`.",
            ge=0,
        ),
    ] = 5.0
    http_pool_size: Annotated[
        int,
        _doc(
            "Connections the process's HTTP client (Agent Service, model API) keeps open at "
            "most; each running agent stream holds one.",
            ge=1,
        ),
    ] = 400
    http_pool_size_per_host: Annotated[
        int, _doc("…of which at most this many to one host.", ge=1)
    ] = 200


class SettingsError(Exception):
    """A variable has a value that cannot be used; the message names it and the expected form."""


def env_name(field: str) -> str:
    return PREFIX + field.upper()


def load_settings(environ: Mapping[str, str] | None = None) -> Settings:
    environ = os.environ if environ is None else environ
    known = {env_name(field): field for field in Settings.__struct_fields__}
    raw = {field: environ[name] for name, field in known.items() if name in environ}
    raw = {field: value for field, value in raw.items() if value != ""}
    try:
        settings = msgspec.convert(raw, Settings, strict=False, dec_hook=_decode)
    except msgspec.ValidationError as error:
        raise SettingsError(_explain(str(error))) from None
    return _checked(settings)


def _decode(kind: type, value: Any) -> Any:
    if kind is Secret and isinstance(value, str):
        return Secret(value)
    raise NotImplementedError


def _explain(message: str) -> str:
    """Name the variable and the form it expects; the offending value is never repeated."""
    _, _, where = message.rpartition(" - at `$.")
    field = where.rstrip("`").split(".")[0].split("[")[0]
    if field not in Settings.__struct_fields__:
        return f"invalid configuration: {message}"
    return f"{env_name(field)}: expected {_expected_form(_field_type(field))}"


def _field_type(field: str) -> msgspec.inspect.Type:
    info = next(f for f in msgspec.inspect.type_info(Settings).fields if f.name == field)
    kind = info.type
    kind = kind.type if isinstance(kind, msgspec.inspect.Metadata) else kind
    if isinstance(kind, msgspec.inspect.UnionType):
        kind = next(t for t in kind.types if not isinstance(t, msgspec.inspect.NoneType))
    return kind


def _expected_form(kind: msgspec.inspect.Type) -> str:
    if isinstance(kind, msgspec.inspect.BoolType):
        return "true or false (1 or 0)"
    if isinstance(kind, msgspec.inspect.LiteralType):
        return "one of " + ", ".join(str(v) for v in kind.values)
    if isinstance(kind, msgspec.inspect.IntType | msgspec.inspect.FloatType):
        noun = "an integer" if isinstance(kind, msgspec.inspect.IntType) else "a number"
        bounds = [
            f"{symbol} {value}"
            for symbol, value in ((">", kind.gt), (">=", kind.ge), ("<", kind.lt), ("<=", kind.le))
            if value is not None
        ]
        return noun + (" " + " and ".join(bounds) if bounds else "")
    return "a string"


def _checked(settings: Settings) -> Settings:
    database_url = settings.database_url
    if database_url.startswith(("postgresql://", "postgres://")):
        database_url = "postgresql+asyncpg://" + database_url.split("://", 1)[1]
    if not database_url.startswith(("postgresql+asyncpg://", "sqlite+aiosqlite://")):
        raise SettingsError(
            f"{env_name('database_url')}: expected a URL starting with sqlite+aiosqlite:// "
            "or postgresql+asyncpg://"
        )
    if settings.jwt_secret is not None and len(settings.jwt_secret.reveal()) < 32:
        raise SettingsError(f"{env_name('jwt_secret')}: expected at least 32 characters")
    if settings.agent_poll_wait_s >= settings.agent_request_timeout_s:
        raise SettingsError(
            f"{env_name('agent_poll_wait_s')}: expected less than "
            f"{env_name('agent_request_timeout_s')}"
        )
    if settings.history_summary_tokens >= settings.history_max_tokens:
        raise SettingsError(
            f"{env_name('history_summary_tokens')}: expected less than "
            f"{env_name('history_max_tokens')}"
        )
    if settings.history_summarizer == "llm" and settings.llm_base_url is None:
        raise SettingsError(
            f"{env_name('history_summarizer')}: llm needs {env_name('llm_base_url')} to be set"
        )
    if settings.redis_url is not None and not settings.redis_url.startswith(
        ("redis://", "rediss://", "unix://")
    ):
        raise SettingsError(
            f"{env_name('redis_url')}: expected a redis://, rediss:// or unix:// URL"
        )
    for field in ("llm_base_url", "agent_service_url"):
        url = getattr(settings, field)
        if url is not None and not url.startswith(("http://", "https://")):
            raise SettingsError(f"{env_name(field)}: expected an http:// or https:// URL")
    return msgspec.structs.replace(settings, database_url=database_url)


def _default_text(field: msgspec.structs.FieldInfo) -> str:
    if field.default is msgspec.NODEFAULT or field.default is None:
        return "unset"
    value = field.default
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def markdown_table() -> str:
    """The table of every variable, its default and meaning, for docs/configuration.md."""
    rows = ["| Variable | Default | Meaning |", "|---|---|---|"]
    infos = {f.name: f.type for f in msgspec.inspect.type_info(Settings).fields}
    for field in msgspec.structs.fields(Settings):
        meta = infos[field.name]
        schema = meta.extra_json_schema if isinstance(meta, msgspec.inspect.Metadata) else None
        meaning = (schema or {}).get("description", "")
        rows.append(f"| `{env_name(field.name)}` | `{_default_text(field)}` | {meaning} |")
    return "\n".join(rows) + "\n"


def write_table(path: str) -> None:
    """Replace the table between the settings markers of a Markdown file."""
    begin, end = "<!-- settings table: begin -->\n", "<!-- settings table: end -->"
    with open(path, encoding="utf-8") as file:
        text = file.read()
    head, _, rest = text.partition(begin)
    _, _, tail = rest.partition(end)
    with open(path, "w", encoding="utf-8") as file:
        file.write(head + begin + markdown_table() + end + tail)


if __name__ == "__main__":
    import sys

    if sys.argv[1:2] == ["--write"]:
        write_table(sys.argv[2] if len(sys.argv) > 2 else "docs/configuration.md")
    else:
        print(markdown_table(), end="")
