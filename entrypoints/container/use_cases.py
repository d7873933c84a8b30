"""The use cases, wired to the adapters."""

from __future__ import annotations

from datetime import timedelta

from dependency_injector import containers, providers

from application.agent_availability import AgentAvailability
from application.agent_event_processor import AgentEventProcessor, AgentReplyPolicy
from application.event_seqs import EventSeqs
from application.history_builder import HistoryBuilder
from application.reply_recorder import FlushPolicy
from application.use_cases.answer_agent_question import AnswerAgentQuestion
from application.use_cases.create_conversation import CreateConversation
from application.use_cases.end_agent_session import EndAgentSession, ExpireAgentSessions
from application.use_cases.fail_interrupted_replies import FailInterruptedReplies
from application.use_cases.follow_conversation import FollowConversation
from application.use_cases.produce_agent_reply import ProduceAgentReply
from application.use_cases.produce_llm_reply import ProduceLlmReply
from application.use_cases.recover_agent_turns import ReapStaleTurns, RecoverAgentTurns
from application.use_cases.route_message import RouteMessage
from application.use_cases.send_message import SendMessage
from application.use_cases.set_routing_override import SetRoutingOverride
from application.use_cases.start_agent_turn import StartAgentTurn
from application.use_cases.submit_agent_answer import SubmitAgentAnswer
from application.use_cases.sweep_agent_sessions import SweepAgentSessions
from domain.history import Strategy, WindowPolicy
from domain.routing import BusyPolicy, IntentKeywords, RoutingRules
from entrypoints.settings import Settings


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


def _flush_policy(settings: Settings) -> FlushPolicy:
    return FlushPolicy(
        interval_s=settings.reply_flush_interval_ms / 1000,
        max_chars=settings.reply_flush_chars,
        max_events=settings.reply_flush_events,
    )


def _seconds(value: float) -> timedelta:
    return timedelta(seconds=value)


def _agent_reply_policy(settings: Settings) -> AgentReplyPolicy:
    return AgentReplyPolicy(
        flush=_flush_policy(settings),
        queue_size=settings.agent_event_queue,
        lease=_seconds(settings.agent_turn_lease_s),
        question_ttl=_seconds(settings.agent_question_ttl_s),
        show_details=settings.agent_show_details,
    )


def _stale_after(settings: Settings) -> timedelta:
    """A turn with no event for longer than the stream cap (plus a lease) is a crash's
    leftover: its own consumer would have given up by then."""
    return _seconds(settings.agent_stream_timeout_s + settings.agent_turn_lease_s)


class UseCases(containers.DeclarativeContainer):
    settings = providers.Dependency(instance_of=Settings)
    infrastructure = providers.DependenciesContainer()
    adapters = providers.DependenciesContainer()

    event_seqs = providers.Singleton(EventSeqs, store=adapters.event_seq_store)
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
        event_seqs=event_seqs,
        model=adapters.chat_model,
        policy=providers.Callable(_flush_policy, settings),
        history_limit=settings.provided.llm_history_messages,
        metrics=infrastructure.metrics,
    )
    fail_interrupted_replies = providers.Factory(
        FailInterruptedReplies, uow=adapters.uow.provider, live=adapters.live
    )
    follow_conversation = providers.Factory(
        FollowConversation, uow=adapters.uow.provider, live=adapters.live
    )
    route_message = providers.Singleton(
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
        counter=adapters.token_counter,
        summarizer=adapters.summarizer,
        policy=providers.Callable(window_policy, settings),
        scan_messages=settings.provided.history_scan_messages,
    )
    start_agent_turn = providers.Singleton(
        StartAgentTurn,
        uow=adapters.uow.provider,
        clock=infrastructure.clock,
        ids=infrastructure.ids,
        gateway=adapters.agent_gateway,
        history=history_builder,
        profile_name=settings.provided.agent_profile_name,
        lease=providers.Callable(_seconds, settings.provided.agent_turn_lease_s),
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
        idle_after=providers.Callable(_seconds, settings.provided.agent_session_idle_s),
    )
    sweep_agent_sessions = providers.Factory(
        SweepAgentSessions,
        expire=expire_agent_sessions,
        live=adapters.live,
        uow=adapters.uow.provider,
    )
    agent_availability = providers.Singleton(
        AgentAvailability,
        gateway=adapters.agent_gateway.provider,
        metrics=infrastructure.metrics,
        interval_s=settings.provided.agent_health_interval_s,
    )
    agent_event_processor = providers.Singleton(
        AgentEventProcessor,
        uow=adapters.uow.provider,
        progress=adapters.reply_progress,
        clock=infrastructure.clock,
        ids=infrastructure.ids,
        live=adapters.live,
        event_seqs=event_seqs,
        metrics=infrastructure.metrics,
        policy=providers.Callable(_agent_reply_policy, settings),
        overrides=adapters.routing_overrides,
    )
    produce_agent_reply = providers.Singleton(
        ProduceAgentReply,
        uow=adapters.uow.provider,
        clock=infrastructure.clock,
        live=adapters.live,
        start=start_agent_turn,
        answer=answer_agent_question,
        end=end_agent_session,
        processor=agent_event_processor,
        lease=providers.Callable(_seconds, settings.provided.agent_turn_lease_s),
        busy_wait=providers.Callable(_seconds, settings.provided.agent_busy_wait_s),
    )
    send_message = providers.Singleton(
        SendMessage,
        uow=adapters.uow.provider,
        clock=infrastructure.clock,
        ids=infrastructure.ids,
        live=adapters.live,
        event_seqs=event_seqs,
        background=adapters.background,
        route=route_message,
        start=start_agent_turn,
        produce_reply=produce_llm_reply.provided.execute,
        produce_agent_reply=produce_agent_reply.provided.execute,
        agent_available=agent_availability.provided.available,
    )
    submit_agent_answer = providers.Factory(
        SubmitAgentAnswer,
        uow=adapters.uow.provider,
        clock=infrastructure.clock,
        ids=infrastructure.ids,
        live=adapters.live,
        event_seqs=event_seqs,
        background=adapters.background,
        answer=answer_agent_question,
        continue_turn=produce_agent_reply.provided.continue_turn,
    )
    recover_agent_turns = providers.Factory(
        RecoverAgentTurns,
        uow=adapters.uow.provider,
        clock=infrastructure.clock,
        live=adapters.live,
        gateway=adapters.agent_gateway,
        background=adapters.background,
        run=agent_event_processor.provided.resume,
        lease=providers.Callable(_seconds, settings.provided.agent_turn_lease_s),
        local=agent_event_processor.provided.consuming,
    )
    reap_stale_turns = providers.Factory(
        ReapStaleTurns,
        uow=adapters.uow.provider,
        clock=infrastructure.clock,
        live=adapters.live,
        stream_cap=providers.Callable(_stale_after, settings),
    )
