"""History windowing: the invariants as properties over arbitrary conversations, and the
strategies on conversations of 0, 1, 10, 100 and 10,000 messages."""

from __future__ import annotations

from collections.abc import Sequence

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from domain.history import (
    TRUNCATION_MARKER,
    HistoryItem,
    Strategy,
    TextMeasure,
    Window,
    WindowPolicy,
    attach_summary,
    drops_only_what_is_missing,
    fits_budget,
    keeps_groups_whole,
    keeps_newest_user_message,
    keeps_order,
    select_window,
    system_first,
)
from domain.messages import Role


def count_words(text: str) -> int:
    return len(text.split())


def first_words(text: str, limit: int) -> str:
    return " ".join(text.split()[:limit])


WORDS = TextMeasure(count_words, first_words)


def item(n: int, role: Role = Role.USER, words: int = 3, group: str | None = None) -> HistoryItem:
    content = " ".join(f"w{n}x{i}" for i in range(words))
    return HistoryItem(key=n, role=role, content=content, tokens=words, group=group)


def conversation(size: int, words: int = 3) -> list[HistoryItem]:
    roles = [Role.USER, Role.ASSISTANT]
    return [item(n, roles[n % 2], words) for n in range(size)]


def all_invariants_hold(source: Sequence[HistoryItem], window: Window, budget: int) -> None:
    assert fits_budget(window, budget)
    assert keeps_newest_user_message(source, window)
    assert keeps_order(source, window)
    assert system_first(window)
    assert keeps_groups_whole(source, window)
    assert drops_only_what_is_missing(source, window)


@st.composite
def histories(draw: st.DrawFn) -> list[HistoryItem]:
    """Conversations with system messages, tool call/result pairs (sometimes apart) and
    messages of any size, including larger than any budget."""
    items: list[HistoryItem] = []
    open_groups: list[str] = []
    for n in range(draw(st.integers(0, 40))):
        kind = draw(st.sampled_from(["user", "assistant", "system", "call", "result"]))
        words = draw(st.integers(0, 60))
        if kind == "call":
            group = f"g{n}"
            open_groups.append(group)
            items.append(item(n, Role.ASSISTANT, words, group))
        elif kind == "result" and open_groups:
            group = open_groups.pop(draw(st.integers(0, len(open_groups) - 1)))
            role = draw(st.sampled_from([Role.ASSISTANT, Role.SYSTEM]))
            items.append(item(n, role, words, group))
        else:
            role = {"user": Role.USER, "system": Role.SYSTEM}.get(kind, Role.ASSISTANT)
            items.append(item(n, role, words))
    return items


policies = st.builds(
    lambda strategy, messages, budget, reserve: WindowPolicy(
        strategy, messages, budget, max(1, min(reserve, budget - 1))
    ),
    st.sampled_from(list(Strategy)),
    st.integers(1, 20),
    st.integers(2, 200),
    st.integers(1, 100),
)


@settings(max_examples=300, deadline=None)
@given(histories(), policies)
def test_every_window_keeps_every_invariant(
    source: list[HistoryItem], policy: WindowPolicy
) -> None:
    all_invariants_hold(source, select_window(source, policy, WORDS), policy.max_tokens)


@settings(max_examples=300, deadline=None)
@given(histories(), policies, st.text(min_size=0, max_size=2000))
def test_compaction_never_overflows(
    source: list[HistoryItem], policy: WindowPolicy, summary: str
) -> None:
    window = attach_summary(select_window(source, policy, WORDS), summary, policy, WORDS)
    all_invariants_hold(source, window, policy.max_tokens)
    if window.summary is not None:
        assert window.dropped and window.summary in window.items


@pytest.mark.parametrize("size", [0, 1, 10, 100, 10_000])
@pytest.mark.parametrize("strategy", list(Strategy))
def test_conversations_of_every_length_fit(size: int, strategy: Strategy) -> None:
    source = conversation(size)
    policy = WindowPolicy(strategy, max_messages=10, max_tokens=4000, summary_tokens=400)
    window = select_window(source, policy, WORDS)
    all_invariants_hold(source, window, 4000)
    if strategy is Strategy.LAST_MESSAGES:
        assert [i.key for i in window.items] == [i.key for i in source[-10:]]
    elif size * 3 <= 4000:
        assert window.items == tuple(source) and window.dropped == ()
    else:
        room = 4000 if strategy is Strategy.TOKEN_BUDGET else 3600
        assert len(window.items) == room // 3
        assert window.items == tuple(source[-(room // 3) :])


def test_the_last_messages_strategy_counts_messages_not_system_prompts() -> None:
    source = [item(0, Role.SYSTEM), *conversation(20)[1:]]
    window = select_window(source, WindowPolicy(Strategy.LAST_MESSAGES, max_messages=4), WORDS)
    assert [i.key for i in window.items] == [0, 16, 17, 18, 19]


def test_system_messages_come_first_and_survive_the_window() -> None:
    source = [*conversation(30), item(99, Role.SYSTEM)]
    source = [*source, item(100, Role.USER)]
    window = select_window(source, WindowPolicy(max_tokens=12), WORDS)
    assert [i.key for i in window.items] == [99, 28, 29, 100]


def test_a_newest_message_longer_than_the_budget_is_truncated_with_a_marker() -> None:
    source = [*conversation(4), item(50, Role.USER, words=500)]
    window = select_window(source, WindowPolicy(max_tokens=100), WORDS)
    [only] = window.items
    assert only.key == 50 and only.truncated and only.content.endswith(TRUNCATION_MARKER)
    assert only.tokens <= 100 and only.content.startswith("w50x0 w50x1")
    assert len(window.dropped) == 4


def test_a_newest_message_that_fits_is_never_truncated() -> None:
    source = [*conversation(4), item(50, Role.USER, words=100)]
    window = select_window(source, WindowPolicy(max_tokens=100), WORDS)
    assert window.items == (source[-1],)


def test_a_tool_call_and_its_result_go_together() -> None:
    source = [
        item(0, Role.USER),
        item(1, Role.ASSISTANT, words=5, group="call-1"),
        item(2, Role.ASSISTANT, words=3),
        item(3, Role.SYSTEM, words=5, group="call-1"),
        item(4, Role.USER),
    ]
    window = select_window(source, WindowPolicy(max_tokens=12), WORDS)
    assert [i.key for i in window.items] == [4]
    window = select_window(source, WindowPolicy(max_tokens=13), WORDS)
    assert [i.key for i in window.items] == [3, 1, 4]
    window = select_window(source, WindowPolicy(max_tokens=16), WORDS)
    assert [i.key for i in window.items] == [3, 1, 2, 4]


def test_the_summary_strategy_summarizes_what_falls_out() -> None:
    source = conversation(100)
    policy = WindowPolicy(Strategy.SUMMARY, max_tokens=60, summary_tokens=15)
    window = select_window(source, policy, WORDS)
    assert len(window.items) == 15 and len(window.dropped) == 85
    summarized = attach_summary(window, "they talked about w", policy, WORDS)
    assert summarized.summary is not None and summarized.items[0] is summarized.summary
    assert summarized.summary.role is Role.SYSTEM and summarized.tokens <= 60


def test_a_summary_too_long_falls_back_to_dropping() -> None:
    policy = WindowPolicy(Strategy.SUMMARY, max_tokens=60, summary_tokens=15)
    window = select_window(conversation(100), policy, WORDS)
    assert attach_summary(window, "word " * 40, policy, WORDS) == window


def test_nothing_dropped_means_no_summary() -> None:
    policy = WindowPolicy(Strategy.SUMMARY)
    window = select_window(conversation(3), policy, WORDS)
    assert attach_summary(window, "anything", policy, WORDS) == window


def test_user_messages_cannot_join_a_tool_group() -> None:
    with pytest.raises(ValueError, match="tool group"):
        item(1, Role.USER, group="g")


@pytest.mark.parametrize("arguments", [(Strategy.SUMMARY, 0, 10, 5), (Strategy.SUMMARY, 1, 10, 10)])
def test_a_policy_refuses_impossible_numbers(arguments: tuple) -> None:  # type: ignore[type-arg]
    with pytest.raises(ValueError, match="must be"):
        WindowPolicy(*arguments)
