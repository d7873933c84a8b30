import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from domain.routing import (
    BusyPolicy,
    IntentKeywords,
    Override,
    Overrides,
    Reason,
    Route,
    RoutingFacts,
    RoutingRules,
    TurnAction,
    decide,
    request_region,
)

RULES = RoutingRules(keywords=IntentKeywords.of(["search", "analyze file", "run code"]))
IDLE = RoutingFacts()
LIVE = RoutingFacts(live_session=True)


@pytest.mark.parametrize("prefix", ["/agent", "@agent", "/AGENT", "  @Agent"])
def test_an_explicit_agent_prefix_routes_to_the_agent_and_is_stripped(prefix: str) -> None:
    decision = decide(f"{prefix} find my invoices", IDLE, RULES)
    assert (decision.route, decision.reason) == (Route.AGENT, Reason.EXPLICIT_AGENT)
    assert decision.content == "find my invoices"
    assert decision.action is TurnAction.START


def test_a_prefix_must_be_a_whole_word() -> None:
    decision = decide("/agentsmith says hi", IDLE, RULES)
    assert decision.reason is Reason.NO_AGENT_SIGNAL and decision.content == "/agentsmith says hi"


def test_chat_forces_the_direct_model_even_in_a_live_session() -> None:
    decision = decide("/chat search nothing", LIVE, RULES)
    assert (decision.route, decision.reason) == (Route.LLM, Reason.EXPLICIT_CHAT)
    assert decision.content == "search nothing"


def test_a_live_session_is_sticky() -> None:
    decision = decide("and then?", LIVE, RULES)
    assert (decision.route, decision.reason) == (Route.AGENT, Reason.STICKY_SESSION)


@pytest.mark.parametrize(
    ("text", "agent"),
    [
        ("Please SEARCH the docs", True),
        ("can you analyze   file report.pdf", True),
        ("Run code: print(1)", True),
        ("research this", False),
        ("searching", False),
        ("analyze the file", False),
        ("hello there", False),
    ],
)
def test_intent_keywords_match_whole_words_in_any_case(text: str, agent: bool) -> None:
    decision = decide(text, IDLE, RULES)
    assert (decision.route is Route.AGENT) is agent
    assert decision.reason is (Reason.INTENT_KEYWORD if agent else Reason.NO_AGENT_SIGNAL)
    assert decision.content == text


def test_no_keywords_configured_means_no_intent_routing() -> None:
    assert decide("search", IDLE, RoutingRules()).route is Route.LLM


def test_the_global_switch_sends_everything_direct() -> None:
    rules = RoutingRules(enabled=False, keywords=RULES.keywords)
    overrides = Overrides(org=Override(True), user=Override(True))
    decision = decide("/agent search", RoutingFacts(live_session=True, overrides=overrides), rules)
    assert (decision.route, decision.reason) == (Route.LLM, Reason.ROUTING_DISABLED)
    assert decision.content == "search"


def test_an_organisation_can_switch_the_agent_off_and_a_user_back_on() -> None:
    off = Overrides(org=Override(agent_routing=False))
    assert decide("/agent x", RoutingFacts(overrides=off), RULES).reason is Reason.DISABLED_FOR_ORG
    back_on = Overrides(org=Override(agent_routing=False), user=Override(agent_routing=True))
    assert decide("/agent x", RoutingFacts(overrides=back_on), RULES).route is Route.AGENT
    user_off = Overrides(user=Override(agent_routing=False))
    decision = decide("/agent x", RoutingFacts(overrides=user_off), RULES)
    assert decision.reason is Reason.DISABLED_FOR_USER


def test_an_unavailable_agent_sends_agent_bound_messages_direct() -> None:
    facts = RoutingFacts(live_session=True, agent_available=False)
    decision = decide("@agent search", facts, RULES)
    assert (decision.route, decision.reason) == (Route.LLM, Reason.AGENT_UNAVAILABLE)
    assert decision.content == "search"
    assert decide("hello", RoutingFacts(agent_available=False), RULES).reason is (
        Reason.NO_AGENT_SIGNAL
    )


def test_a_running_turn_enqueues_by_default() -> None:
    facts = RoutingFacts(live_session=True, turn_running=True)
    decision = decide("more", facts, RULES)
    assert decision.action is TurnAction.ENQUEUE and not decision.rejected


@pytest.mark.parametrize(
    ("policy", "action"),
    [
        (BusyPolicy.REJECT, TurnAction.REJECT),
        (BusyPolicy.ENQUEUE, TurnAction.ENQUEUE),
        (BusyPolicy.INTERRUPT, TurnAction.INTERRUPT),
    ],
)
def test_the_organisation_busy_policy_decides_for_a_running_turn(
    policy: BusyPolicy, action: TurnAction
) -> None:
    facts = RoutingFacts(
        live_session=True, turn_running=True, overrides=Overrides(org=Override(busy_policy=policy))
    )
    assert decide("more", facts, RULES).action is action


def test_the_configured_default_busy_policy_applies_without_an_override() -> None:
    rules = RoutingRules(busy_policy=BusyPolicy.INTERRUPT)
    facts = RoutingFacts(live_session=True, turn_running=True)
    assert decide("more", facts, rules).action is TurnAction.INTERRUPT


REFERENCE = re.compile(r"(?<!\w)(?:search|analyze\s+file|run\s+code)(?!\w)", re.IGNORECASE)
PIECES = ["search", "SEARCH", "re", "ing", "analyze", "file", "run", "code", "_", "x", "1"]


@settings(max_examples=500, deadline=None)
@given(st.lists(st.sampled_from([*PIECES, " ", "  ", "\n", ".", ",", "-"]), max_size=30))
def test_keyword_matching_equals_the_word_boundary_regex(parts: list[str]) -> None:
    text = "".join(parts)
    assert RULES.keywords.found_in(text) is (REFERENCE.search(text) is not None)


def test_a_keyword_deep_inside_a_long_pasted_text_is_not_a_request() -> None:
    pasted = "lorem ipsum dolor " * 300 + "we search here " + "lorem ipsum dolor " * 300
    assert not RULES.keywords.found_in(pasted)
    assert RULES.keywords.found_in("Please search this: " + pasted)
    assert RULES.keywords.found_in(pasted + " Now search the web for the rest.")


def test_a_word_cut_at_the_edge_of_the_read_region_never_matches() -> None:
    keywords = IntentKeywords.of(["search"], scan_chars=100)
    straddling = "x" * 94 + " searching" + " filler" * 100
    assert len(straddling) > 125
    assert not keywords.found_in(straddling)
    tail_cut = " filler" * 100 + " researching" + "y" * 20
    assert not keywords.found_in(tail_cut)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.sampled_from([*PIECES, " ", "\n", "."]), min_size=200, max_size=400))
def test_long_messages_are_judged_on_their_start_and_end_only(parts: list[str]) -> None:
    keywords = IntentKeywords.of(["search", "analyze file", "run code"], scan_chars=100)
    text = "".join(parts)
    region = request_region(text, 100)
    assert len(region) <= 100 + 25 + 1
    assert keywords.found_in(text) is (REFERENCE.search(region) is not None)
