"""Where a user's message goes: to the agent or to the direct model, and why.

`decide` is a pure function of the message and of facts gathered by the caller (is a session
live, is a turn running, is the agent reachable, what the switches say). Rules, first match
wins:

1. `/chat` forces the direct model (the prefix is stripped).
2. Agent routing switched off, globally (the rollback switch), for the user or for the
   organisation (a user's override beats the organisation's): direct.
3. The message is agent-bound when it starts with `/agent` or `@agent` (stripped), when the
   conversation has a live agent session (sticky), or when it names an intent keyword (whole
   words, any case). Otherwise: direct.
4. Agent-bound while the agent is unavailable (breaker open or health down): direct, with the
   reason `agent_unavailable`.
5. Agent-bound while a turn is running: the organisation's busy policy says reject (409),
   enqueue (run after the current turn; the default) or interrupt (cancel it, start anew).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum

_EXPLICIT = re.compile(r"^\s*(?P<command>/agent|@agent|/chat)(?=\s|$)\s*", re.IGNORECASE)


class Route(StrEnum):
    AGENT = "agent"
    LLM = "llm"


class Reason(StrEnum):
    EXPLICIT_AGENT = "explicit_agent"
    EXPLICIT_CHAT = "explicit_chat"
    STICKY_SESSION = "sticky_session"
    INTENT_KEYWORD = "intent_keyword"
    NO_AGENT_SIGNAL = "no_agent_signal"
    ROUTING_DISABLED = "routing_disabled"
    DISABLED_FOR_ORG = "disabled_for_org"
    DISABLED_FOR_USER = "disabled_for_user"
    AGENT_UNAVAILABLE = "agent_unavailable"


class BusyPolicy(StrEnum):
    REJECT = "reject"
    ENQUEUE = "enqueue"
    INTERRUPT = "interrupt"


class TurnAction(StrEnum):
    """What to do with an agent-bound message given the turn already running (or not)."""

    START = "start"
    ENQUEUE = "enqueue"
    INTERRUPT = "interrupt"
    REJECT = "reject"


_BUSY_ACTIONS = {
    BusyPolicy.REJECT: TurnAction.REJECT,
    BusyPolicy.ENQUEUE: TurnAction.ENQUEUE,
    BusyPolicy.INTERRUPT: TurnAction.INTERRUPT,
}


@dataclass(frozen=True, slots=True)
class Override:
    """A stored switch for an organisation or a user; None leaves the decision to the level
    above. `busy_policy` and `question_ttl_s` (how long the agent's questions wait for an
    answer) are only meaningful for an organisation."""

    agent_routing: bool | None = None
    busy_policy: BusyPolicy | None = None
    question_ttl_s: float | None = None


@dataclass(frozen=True, slots=True)
class Overrides:
    org: Override = Override()
    user: Override = Override()


@dataclass(frozen=True, slots=True)
class IntentKeywords:
    """Keywords that send a message to the agent: case-insensitive, on word boundaries, a
    space inside a keyword matching any run of whitespace.

    A request is read where people write it: a long message is searched in its first
    `scan_chars` characters and its last quarter as many, so a keyword deep inside a pasted
    document is not taken as a request (and a decision costs the same for any length).

    Each keyword is its own pattern starting with a literal, searched in the lower-cased
    text, so the regular expression engine skips ahead to candidates in C; only the word
    boundary before a candidate is checked in Python. One alternation with look-behind and
    IGNORECASE would try every position."""

    patterns: tuple[re.Pattern[str], ...] = ()
    scan_chars: int = 2_000

    @classmethod
    def of(cls, keywords: Iterable[str], scan_chars: int = 2_000) -> IntentKeywords:
        words = sorted({" ".join(k.split()).lower() for k in keywords if k.strip()})
        patterns = tuple(
            re.compile(r"\s+".join(map(re.escape, w.split())) + r"(?!\w)") for w in words
        )
        return cls(patterns, scan_chars)

    def found_in(self, text: str) -> bool:
        lowered = request_region(text, self.scan_chars).lower()
        for pattern in self.patterns:
            for match in pattern.finditer(lowered):
                start = match.start()
                if not (start and _is_word(lowered[start - 1])):
                    return True
        return False


def request_region(text: str, head_chars: int) -> str:
    """The start and the end of a long message, cut at whitespace so that no word is split
    (a cut word could otherwise look like a keyword); short messages whole."""
    tail_chars = head_chars // 4
    if len(text) <= head_chars + tail_chars:
        return text
    head = text[:head_chars].rsplit(None, 1)[0]
    tail = text[-tail_chars:]
    first_space = next((i for i, c in enumerate(tail) if c.isspace()), len(tail))
    return head + "\n" + tail[first_space:]


def _is_word(character: str) -> bool:
    return character.isalnum() or character == "_"


@dataclass(frozen=True, slots=True)
class RoutingRules:
    enabled: bool = True
    keywords: IntentKeywords = IntentKeywords()
    busy_policy: BusyPolicy = BusyPolicy.ENQUEUE


@dataclass(frozen=True, slots=True)
class RoutingFacts:
    """What the caller knows about the conversation at the moment the message arrives."""

    live_session: bool = False
    turn_running: bool = False
    agent_available: bool = True
    overrides: Overrides = Overrides()


@dataclass(frozen=True, slots=True)
class RoutingDecision:
    route: Route
    reason: Reason
    content: str
    action: TurnAction | None = None

    @property
    def rejected(self) -> bool:
        return self.action is TurnAction.REJECT


def decide(content: str, facts: RoutingFacts, rules: RoutingRules) -> RoutingDecision:
    command, text = _split_command(content)
    if command == "/chat":
        return RoutingDecision(Route.LLM, Reason.EXPLICIT_CHAT, text)
    disabled = _disabled(facts.overrides, rules)
    if disabled is not None:
        return RoutingDecision(Route.LLM, disabled, text)
    if command is not None:
        reason = Reason.EXPLICIT_AGENT
    elif facts.live_session:
        reason = Reason.STICKY_SESSION
    elif rules.keywords.found_in(text):
        reason = Reason.INTENT_KEYWORD
    else:
        return RoutingDecision(Route.LLM, Reason.NO_AGENT_SIGNAL, text)
    if not facts.agent_available:
        return RoutingDecision(Route.LLM, Reason.AGENT_UNAVAILABLE, text)
    return RoutingDecision(Route.AGENT, reason, text, _action(facts, rules))


def _split_command(content: str) -> tuple[str | None, str]:
    match = _EXPLICIT.match(content)
    if match is None:
        return None, content
    command = match["command"].lower()
    return ("/agent" if command == "@agent" else command), content[match.end() :]


def _disabled(overrides: Overrides, rules: RoutingRules) -> Reason | None:
    if not rules.enabled:
        return Reason.ROUTING_DISABLED
    if overrides.user.agent_routing is not None:
        return None if overrides.user.agent_routing else Reason.DISABLED_FOR_USER
    if overrides.org.agent_routing is False:
        return Reason.DISABLED_FOR_ORG
    return None


def _action(facts: RoutingFacts, rules: RoutingRules) -> TurnAction:
    if not facts.turn_running:
        return TurnAction.START
    return _BUSY_ACTIONS[facts.overrides.org.busy_policy or rules.busy_policy]
