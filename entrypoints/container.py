"""The composition root: the only module that knows every adapter.

Split by concern: infrastructure (process-wide resources), adapters (ports made real, chosen by
configuration) and use cases. Resources are plain Singletons created inside the running loop
and closed by `close_resources` from the app's lifespan, so providers hand out objects rather
than futures.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable
from datetime import timedelta

import aiohttp
from dependency_injector import containers, providers
from redis.asyncio import Redis

from adapters.agent_service import (
    AgentClientConfig,
    AgentServiceClient,
    BackoffSchedule,
    RetryPolicy,
)
from adapters.llm.echo import EchoChatModel
from adapters.llm.openai_compatible import OpenAIChatModel, OpenAIEndpoint
from adapters.llm.summarizer import OpenAISummarizer
from adapters.memory.background import AsyncioBackgroundWork
from adapters.memory.live_events import InProcessLiveEvents
from adapters.redis.live_events import RedisLiveEvents
from adapters.sql.engine import create_engine, ping_database
from adapters.sql.unit_of_work import SqlUnitOfWork
from adapters.summarizer.extractive import ExtractiveSummarizer
from adapters.system.clock import SystemClock
from adapters.system.ids import Uuid7Generator
from adapters.telemetry.metrics import OpenTelemetryMetrics
from adapters.tokenizer.tiktoken_counter import TiktokenCounter
from application.history_builder import HistoryBuilder
from application.reply_recorder import FlushPolicy
from application.routing_cache import CachedOverrides, stored_overrides
from application.use_cases.agent_progress import (
    FinishAgentTurn,
    PauseForQuestion,
    RecordAgentProgress,
)
from application.use_cases.answer_agent_question import AnswerAgentQuestion
from application.use_cases.create_conversation import CreateConversation
from application.use_cases.end_agent_session import EndAgentSession, ExpireAgentSessions
from application.use_cases.fail_interrupted_replies import FailInterruptedReplies
from application.use_cases.follow_conversation import FollowConversation
from application.use_cases.produce_llm_reply import ProduceLlmReply
from application.use_cases.route_message import RouteMessage
from application.use_cases.send_message import SendMessage
from application.use_cases.set_routing_override import SetRoutingOverride
from application.use_cases.start_agent_turn import StartAgentTurn
from domain.history import Strategy, WindowPolicy
from domain.routing import BusyPolicy, IntentKeywords, RoutingRules
from entrypoints.scheduler import Job, Scheduler
from entrypoints.settings import Settings

log = logging.getLogger(__name__)


def _http_session(settings: Settings) -> aiohttp.ClientSession:
    """One pooled HTTP client per process; each adapter sets its own per-call timeouts."""
    return aiohttp.ClientSession(
        connector=aiohttp.TCPConnector(
            limit=settings.http_pool_size, limit_per_host=settings.http_pool_size_per_host
        ),
        timeout=aiohttp.ClientTimeout(total=None),
    )


def agent_client_config(settings: Settings) -> AgentClientConfig:
    """The Agent Service client's configuration from the `CONVO_AGENT_*` settings."""
    if not settings.agent_service_url:
        raise RuntimeError(
            "CONVO_AGENT_SERVICE_URL is not set and no reference Agent Service was started"
        )
    backoff = BackoffSchedule(
        base_s=settings.agent_backoff_base_s, jitter=settings.agent_backoff_jitter
    )
    return AgentClientConfig(
        base_url=settings.agent_service_url,
        api_key=settings.agent_api_key.reveal() if settings.agent_api_key else "",
        connect_timeout_s=settings.agent_connect_timeout_s,
        headers_timeout_s=settings.agent_headers_timeout_s,
        heartbeat_interval_s=settings.agent_heartbeat_interval_s,
        stream_timeout_s=settings.agent_stream_timeout_s,
        request_timeout_s=settings.agent_request_timeout_s,
        retry=RetryPolicy(
            unavailable_retries=settings.agent_unavailable_retries,
            server_error_retries=settings.agent_server_error_retries,
            backoff=backoff,
            max_retry_after_s=settings.agent_max_retry_after_s,
        ),
        reconnect_attempts=settings.agent_reconnect_attempts,
        reconnect_backoff=backoff,
        poll_interval_s=settings.agent_poll_interval_s,
        poll_wait_s=settings.agent_poll_wait_s,
        pool_limit=settings.http_pool_size,
        pool_limit_per_host=settings.http_pool_size_per_host,
    )


def _agent_client(
    config: AgentClientConfig, session: aiohttp.ClientSession, metrics: OpenTelemetryMetrics
) -> AgentServiceClient:
    return AgentServiceClient(config, session=session, metrics=metrics)


def _llm_endpoint(settings: Settings) -> OpenAIEndpoint:
    return OpenAIEndpoint(
        base_url=settings.llm_base_url or "",
        model=settings.llm_model,
        api_key=settings.llm_api_key.reveal() if settings.llm_api_key else None,
        connect_timeout_s=settings.llm_connect_timeout_s,
        idle_timeout_s=settings.llm_idle_timeout_s,
        total_timeout_s=settings.llm_total_timeout_s,
    )


def _openai_model(session: aiohttp.ClientSession, settings: Settings) -> OpenAIChatModel:
    return OpenAIChatModel(session, _llm_endpoint(settings))


def _llm_summarizer(
    session: aiohttp.ClientSession, settings: Settings, counter: TiktokenCounter
) -> OpenAISummarizer:
    return OpenAISummarizer(session, _llm_endpoint(settings), counter)


def routing_rules(settings: Settings) -> RoutingRules:
    return RoutingRules(
        enabled=settings.agent_routing_enabled,
        keywords=IntentKeywords.of(
            settings.agent_intent_keywords.split(","), settings.agent_intent_scan_chars
        ),
        busy_policy=BusyPolicy(settings.agent_busy_policy),
    )


def window_policy(settings: Settings) -> WindowPolicy:
    return WindowPolicy(
        strategy=Strategy(settings.history_strategy),
        max_messages=settings.history_max_messages,
        max_tokens=settings.history_max_tokens,
        summary_tokens=settings.history_summary_tokens,
    )


def _echo_model(settings: Settings) -> EchoChatModel:
    return EchoChatModel(delay_s=settings.echo_delay_ms / 1000)


def _redis_client(settings: Settings) -> Redis | None:
    """One pool per process; None on the embedded default (no Redis configured)."""
    return Redis.from_url(settings.redis_url) if settings.redis_url else None


def _live_choice(settings: Settings) -> str:
    return "redis" if settings.redis_url else "memory"


def _model_choice(settings: Settings) -> str:
    return "openai" if settings.llm_base_url else "echo"


def _flush_policy(settings: Settings) -> FlushPolicy:
    return FlushPolicy(
        interval_s=settings.reply_flush_interval_ms / 1000, max_chars=settings.reply_flush_chars
    )


class Infrastructure(containers.DeclarativeContainer):
    settings = providers.Dependency(instance_of=Settings)

    engine = providers.Singleton(
        create_engine,
        url=settings.provided.database_url,
        pool_size=settings.provided.database_pool_size,
    )
    http = providers.Singleton(_http_session, settings)
    redis = providers.Singleton(_redis_client, settings)
    metrics = providers.Singleton(OpenTelemetryMetrics)
    clock = providers.Singleton(SystemClock)
    ids = providers.Singleton(Uuid7Generator)


class Adapters(containers.DeclarativeContainer):
    settings = providers.Dependency(instance_of=Settings)
    infrastructure = providers.DependenciesContainer()

    uow = providers.Factory(SqlUnitOfWork, engine=infrastructure.engine)
    live = providers.Selector(
        providers.Callable(_live_choice, settings),
        memory=providers.Singleton(
            InProcessLiveEvents,
            replay_size=settings.provided.replay_buffer_events,
            subscriber_queue=settings.provided.subscriber_queue_events,
            max_conversations=settings.provided.replay_conversations,
            retention_s=settings.provided.replay_retention_s,
        ),
        redis=providers.Singleton(
            RedisLiveEvents,
            redis=infrastructure.redis,
            prefix=settings.provided.redis_prefix,
            replay_size=settings.provided.replay_buffer_events,
            retention_s=settings.provided.replay_retention_s,
            subscriber_queue=settings.provided.subscriber_queue_events,
        ),
    )
    background = providers.Singleton(AsyncioBackgroundWork)
    agent_gateway = providers.Singleton(
        _agent_client,
        providers.Callable(agent_client_config, settings),  # first: says why it cannot be made
        infrastructure.http,
        infrastructure.metrics,
    )
    chat_model = providers.Selector(
        providers.Callable(_model_choice, settings),
        echo=providers.Singleton(_echo_model, settings),
        openai=providers.Singleton(_openai_model, infrastructure.http, settings),
    )
    token_counter = providers.Singleton(
        TiktokenCounter, encoding=settings.provided.tokenizer_encoding
    )
    summarizer = providers.Selector(
        settings.provided.history_summarizer,
        extractive=providers.Singleton(ExtractiveSummarizer, token_counter),
        llm=providers.Singleton(_llm_summarizer, infrastructure.http, settings, token_counter),
    )
    routing_overrides = providers.Singleton(
        CachedOverrides,
        load=providers.Callable(stored_overrides, uow.provider),
        clock=infrastructure.clock,
        ttl_s=settings.provided.routing_overrides_ttl_s,
    )


class UseCases(containers.DeclarativeContainer):
    settings = providers.Dependency(instance_of=Settings)
    infrastructure = providers.DependenciesContainer()
    adapters = providers.DependenciesContainer()

    create_conversation = providers.Factory(
        CreateConversation,
        uow=adapters.uow.provider,
        clock=infrastructure.clock,
        ids=infrastructure.ids,
    )
    produce_llm_reply = providers.Singleton(
        ProduceLlmReply,
        uow=adapters.uow.provider,
        clock=infrastructure.clock,
        live=adapters.live,
        model=adapters.chat_model,
        policy=providers.Callable(_flush_policy, settings),
        history_limit=settings.provided.llm_history_messages,
        metrics=infrastructure.metrics,
    )
    send_message = providers.Factory(
        SendMessage,
        uow=adapters.uow.provider,
        clock=infrastructure.clock,
        ids=infrastructure.ids,
        live=adapters.live,
        background=adapters.background,
        produce_reply=produce_llm_reply.provided.execute,
    )
    fail_interrupted_replies = providers.Factory(
        FailInterruptedReplies, uow=adapters.uow.provider, live=adapters.live
    )
    follow_conversation = providers.Factory(
        FollowConversation, uow=adapters.uow.provider, live=adapters.live
    )
    route_message = providers.Factory(
        RouteMessage,
        uow=adapters.uow.provider,
        overrides=adapters.routing_overrides,
        rules=providers.Callable(routing_rules, settings),
        metrics=infrastructure.metrics,
    )
    set_routing_override = providers.Factory(
        SetRoutingOverride,
        uow=adapters.uow.provider,
        clock=infrastructure.clock,
        cache=adapters.routing_overrides,
    )
    history_builder = providers.Factory(
        HistoryBuilder,
        uow=adapters.uow.provider,
        counter=adapters.token_counter,
        summarizer=adapters.summarizer,
        policy=providers.Callable(window_policy, settings),
        scan_messages=settings.provided.history_scan_messages,
    )
    start_agent_turn = providers.Factory(
        StartAgentTurn,
        uow=adapters.uow.provider,
        clock=infrastructure.clock,
        ids=infrastructure.ids,
        gateway=adapters.agent_gateway,
        history=history_builder,
        profile_name=settings.provided.agent_profile_name,
    )
    record_agent_progress = providers.Factory(
        RecordAgentProgress, uow=adapters.uow.provider, clock=infrastructure.clock
    )
    pause_for_question = providers.Factory(
        PauseForQuestion,
        uow=adapters.uow.provider,
        clock=infrastructure.clock,
        question_ttl=providers.Callable(
            lambda s: timedelta(seconds=s.agent_question_ttl_s), settings
        ),
    )
    finish_agent_turn = providers.Factory(
        FinishAgentTurn, uow=adapters.uow.provider, clock=infrastructure.clock
    )
    answer_agent_question = providers.Factory(
        AnswerAgentQuestion,
        uow=adapters.uow.provider,
        clock=infrastructure.clock,
        gateway=adapters.agent_gateway,
    )
    end_agent_session = providers.Factory(
        EndAgentSession, uow=adapters.uow.provider, clock=infrastructure.clock
    )
    expire_agent_sessions = providers.Factory(
        ExpireAgentSessions,
        uow=adapters.uow.provider,
        clock=infrastructure.clock,
        idle_after=providers.Callable(
            lambda s: timedelta(seconds=s.agent_session_idle_s), settings
        ),
    )


class Container(containers.DeclarativeContainer):
    settings = providers.Dependency(instance_of=Settings)

    infrastructure = providers.Container(Infrastructure, settings=settings)
    adapters = providers.Container(Adapters, settings=settings, infrastructure=infrastructure)
    use_cases = providers.Container(
        UseCases, settings=settings, infrastructure=infrastructure, adapters=adapters
    )


def build_container(settings: Settings) -> Container:
    return Container(settings=settings)


async def open_resources(container: Container) -> None:
    """Create the process-wide resources inside the running event loop."""
    container.infrastructure.engine()
    container.infrastructure.http()
    await asyncio.to_thread(container.adapters.token_counter().warm)


async def settle_unfinished_work(container: Container) -> None:
    """At the start of the API process: settle what a previous run left unfinished. Only a
    single instance can tell that nobody else is working on it; with several (Redis), the
    scheduler reaps what stays stale."""
    settings: Settings = container.settings()
    if settings.redis_url is not None:
        return
    try:
        await container.use_cases.fail_interrupted_replies().execute()
    except Exception:
        log.exception("could not settle interrupted replies; /health/ready will tell why")


async def close_resources(container: Container, grace_s: float) -> None:
    """Stop background work (each reply records its interruption), then close the HTTP client
    and the database pool."""
    await container.adapters.background().close(grace_s)
    live = container.adapters.live()
    if isinstance(live, RedisLiveEvents):
        await live.close()
    redis = container.infrastructure.redis()
    if redis is not None:
        await redis.aclose()
    await container.infrastructure.http().close()
    await container.infrastructure.engine().dispose()
    container.infrastructure.metrics().shutdown()


async def readiness(container: Container) -> dict[str, dict[str, str]]:
    """Each dependency's state for `/health/ready`: {"status": "ok"} or why it is not."""
    checks = {"database": await probe(ping_database(container.infrastructure.engine()))}
    redis = container.infrastructure.redis()
    if redis is not None:
        checks["redis"] = await probe(redis.ping())
    return checks


async def probe(check: Awaitable[None], timeout_s: float = 2.0) -> dict[str, str]:
    try:
        async with asyncio.timeout(timeout_s):
            await check
    except Exception as error:
        return {"status": "down", "error": type(error).__name__}
    return {"status": "ok"}


def metrics_exposition(container: Container) -> bytes:
    """What `/metrics` serves: every metric in the Prometheus text format."""
    return container.infrastructure.metrics().exposition()


def scheduled_jobs(container: Container) -> list[Job]:
    """The periodic jobs of this process, each safe to run on several instances at once."""
    live = container.adapters.live()
    return [
        Job("prune_replay_buffers", live.prune),
        Job("expire_agent_sessions", lambda: _expire_agent_sessions(container)),
    ]


async def _expire_agent_sessions(container: Container) -> int:
    """Complete idle agent sessions and abandon those whose question expired (safe on several
    instances at once: one bulk update, and optimistic locking per abandoned session)."""
    expired = await container.use_cases.expire_agent_sessions().execute()
    return expired.completed + len(expired.abandoned)


def build_scheduler(container: Container) -> Scheduler:
    settings: Settings = container.settings()
    return Scheduler(
        scheduled_jobs(container),
        settings.scheduler_interval_s,
        container.infrastructure.metrics(),
    )
