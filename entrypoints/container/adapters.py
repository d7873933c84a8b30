"""The ports made real, each adapter chosen by configuration."""

from __future__ import annotations

import aiohttp
from dependency_injector import containers, providers
from sqlalchemy.ext.asyncio import AsyncEngine

from adapters.agent_service import (
    AgentClientConfig,
    AgentServiceClient,
    BackoffSchedule,
    RetryPolicy,
)
from adapters.agent_service.unconfigured import NoAgentService
from adapters.llm.echo import EchoChatModel
from adapters.llm.openai_compatible import OpenAIChatModel, OpenAIEndpoint
from adapters.llm.summarizer import OpenAISummarizer
from adapters.memory.background import AsyncioBackgroundWork
from adapters.memory.live_events import InProcessLiveEvents
from adapters.redis.live_events import RedisLiveEvents
from adapters.sql.event_seqs import PostgresEventSeqStore
from adapters.sql.reply_progress import PostgresReplyProgress
from adapters.sql.sqlite_event_seqs import SqliteEventSeqStore
from adapters.sql.sqlite_reply_progress import SqliteReplyProgress
from adapters.sql.unit_of_work import SqlUnitOfWork
from adapters.summarizer.extractive import ExtractiveSummarizer
from adapters.telemetry.metrics import OpenTelemetryMetrics
from adapters.tokenizer.tiktoken_counter import TiktokenCounter
from application.ports.event_seq_store import EventSeqStore
from application.ports.reply_progress import ReplyProgress
from application.routing_cache import CachedOverrides, stored_overrides
from entrypoints.settings import Settings


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


def _echo_model(settings: Settings) -> EchoChatModel:
    return EchoChatModel(delay_s=settings.echo_delay_ms / 1000)


def _live_choice(settings: Settings) -> str:
    return "redis" if settings.redis_url else "memory"


def _agent_choice(settings: Settings) -> str:
    return "client" if settings.agent_service_url else "none"


def _reply_progress(engine: AsyncEngine) -> ReplyProgress:
    if engine.dialect.name == "postgresql":
        return PostgresReplyProgress(engine)
    return SqliteReplyProgress(engine)


def _event_seq_store(engine: AsyncEngine) -> EventSeqStore:
    if engine.dialect.name == "postgresql":
        return PostgresEventSeqStore(engine)
    return SqliteEventSeqStore(engine)


def _model_choice(settings: Settings) -> str:
    return "openai" if settings.llm_base_url else "echo"


class Adapters(containers.DeclarativeContainer):
    settings = providers.Dependency(instance_of=Settings)
    infrastructure = providers.DependenciesContainer()

    uow = providers.Factory(SqlUnitOfWork, engine=infrastructure.engine)
    reply_progress = providers.Singleton(_reply_progress, infrastructure.engine)
    event_seq_store = providers.Singleton(_event_seq_store, infrastructure.engine)
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
    agent_gateway = providers.Selector(
        providers.Callable(_agent_choice, settings),
        client=providers.Singleton(
            _agent_client,
            providers.Callable(agent_client_config, settings),
            infrastructure.http,
            infrastructure.metrics,
        ),
        none=providers.Singleton(NoAgentService),
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
