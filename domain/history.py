"""History windowing: which messages of a conversation an agent is given, within a budget.

Three strategies, all under one hard ceiling of `max_tokens`:
- LAST_MESSAGES: the newest `max_messages` messages (system messages come on top);
- TOKEN_BUDGET: the newest messages that fit in `max_tokens`;
- SUMMARY: a sliding window of the newest messages that fit, with a summary of what fell out
  of it (the window keeps `summary_tokens` free for it once anything falls out).

Items carry their token count, computed once by the caller. A tool call and its result share a
`group`: a group is kept or dropped whole, never split. Only assistant and system items may be
grouped; a user's message always stands alone. The invariants the window keeps are the named
functions at the end of this module; Hypothesis tests exercise them.

Summaries are written outside the domain (they take I/O): `select_window` leaves `dropped`, the
caller summarizes it, and `attach_summary` adds the summary only if it fits; if it does not,
the window stays as it was, which is the same as dropping.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterable, Sequence
from dataclasses import dataclass, replace
from enum import StrEnum

from domain.messages import ChatTurn, Role

TRUNCATION_MARKER = "\n[…truncated]"
SUMMARY_PREFIX = "Summary of the earlier conversation:\n"


class Strategy(StrEnum):
    LAST_MESSAGES = "last_messages"
    TOKEN_BUDGET = "token_budget"  # noqa: S105 (a strategy name, not a secret)
    SUMMARY = "summary"


@dataclass(frozen=True, slots=True)
class HistoryItem:
    """One message as windowing sees it. `key` identifies it (a message id) and is kept when
    the item is truncated; `tokens` is the cost of its content."""

    key: Hashable
    role: Role
    content: str
    tokens: int
    group: str | None = None
    truncated: bool = False

    def __post_init__(self) -> None:
        if self.tokens < 0:
            raise ValueError("tokens must not be negative")
        if self.group is not None and self.role is Role.USER:
            raise ValueError("a user's message cannot belong to a tool group")


@dataclass(frozen=True, slots=True)
class WindowPolicy:
    strategy: Strategy = Strategy.TOKEN_BUDGET
    max_messages: int = 10
    max_tokens: int = 4000
    summary_tokens: int = 400

    def __post_init__(self) -> None:
        if self.max_messages < 1 or self.max_tokens < 1:
            raise ValueError("max_messages and max_tokens must be at least 1")
        if self.strategy is Strategy.SUMMARY and not 0 < self.summary_tokens < self.max_tokens:
            raise ValueError("summary_tokens must be between 1 and max_tokens - 1")


@dataclass(frozen=True, slots=True)
class TextMeasure:
    """How the caller's tokenizer counts text and cuts it to at most a number of tokens."""

    count: Callable[[str], int]
    truncate: Callable[[str, int], str]


@dataclass(frozen=True, slots=True)
class Window:
    """What the agent is given: system items first, then the summary if any, then the kept
    messages in their order. `dropped` holds what fell out, oldest first."""

    items: tuple[HistoryItem, ...]
    dropped: tuple[HistoryItem, ...] = ()
    summary: HistoryItem | None = None

    @property
    def tokens(self) -> int:
        return sum(item.tokens for item in self.items)

    def turns(self) -> list[ChatTurn]:
        return [ChatTurn(item.role, item.content) for item in self.items]


def select_window(
    items: Sequence[HistoryItem], policy: WindowPolicy, measure: TextMeasure
) -> Window:
    """The window of `items` (oldest first) under `policy`."""
    layout = _Layout.of(items)
    limit = policy.max_messages if policy.strategy is Strategy.LAST_MESSAGES else None
    window = _fit(items, layout, policy.max_tokens, limit, measure)
    if policy.strategy is not Strategy.SUMMARY or not window.dropped:
        return window
    if _truncates(window):
        return window
    roomy = _fit(items, layout, policy.max_tokens - policy.summary_tokens, None, measure)
    return window if _truncates(roomy) else roomy


def attach_summary(window: Window, text: str, policy: WindowPolicy, measure: TextMeasure) -> Window:
    """The window with `text` as a system summary of what it dropped, placed after the system
    items; unchanged when there is nothing dropped, no text, or no room for it."""
    if not window.dropped or not text.strip() or _truncates(window):
        return window
    content = SUMMARY_PREFIX + text.strip()
    summary = HistoryItem(key=("summary",), role=Role.SYSTEM, content=content, tokens=0)
    summary = replace(summary, tokens=measure.count(content))
    if window.tokens + summary.tokens > policy.max_tokens:
        return window
    system = tuple(item for item in window.items if item.role is Role.SYSTEM)
    rest = tuple(item for item in window.items if item.role is not Role.SYSTEM)
    return Window(items=(*system, summary, *rest), dropped=window.dropped, summary=summary)


def _truncates(window: Window) -> bool:
    return any(item.truncated for item in window.items)


@dataclass(frozen=True, slots=True)
class _Layout:
    """What windowing needs to know of the items, found in one pass."""

    newest_user: int | None
    system: tuple[int, ...]
    groups: dict[str, tuple[int, ...]]

    @classmethod
    def of(cls, items: Sequence[HistoryItem]) -> _Layout:
        newest_user = None
        system: list[int] = []
        groups: dict[str, list[int]] = {}
        for index, item in enumerate(items):
            if item.group is not None:
                groups.setdefault(item.group, []).append(index)
            elif item.role is Role.SYSTEM:
                system.append(index)
            elif item.role is Role.USER:
                newest_user = index
        return cls(newest_user, tuple(system), {g: tuple(i) for g, i in groups.items()})


def _fit(
    items: Sequence[HistoryItem],
    layout: _Layout,
    budget: int,
    limit: int | None,
    measure: TextMeasure,
) -> Window:
    newest_user = layout.newest_user
    if newest_user is not None and items[newest_user].tokens > budget:
        kept = _truncated(items[newest_user], budget, measure)
        return Window(items=(kept,), dropped=_without(items, {newest_user}))
    chosen: set[int] = set()
    spent = 0
    if newest_user is not None:
        chosen.add(newest_user)
        spent = items[newest_user].tokens
    for index in layout.system:
        if spent + items[index].tokens <= budget:
            chosen.add(index)
            spent += items[index].tokens
    _newest_first(items, layout, chosen, spent, budget, limit)
    ordered = sorted(chosen)
    system = [items[i] for i in ordered if items[i].role is Role.SYSTEM]
    others = [items[i] for i in ordered if items[i].role is not Role.SYSTEM]
    return Window(items=(*system, *others), dropped=_without(items, chosen))


def _newest_first(
    items: Sequence[HistoryItem],
    layout: _Layout,
    chosen: set[int],
    spent: int,
    budget: int,
    limit: int | None,
) -> None:
    """Add whole units from the newest back until one does not fit."""
    count = sum(1 for i in chosen if items[i].role is not Role.SYSTEM)
    for index in range(len(items) - 1, -1, -1):
        if index in chosen:
            continue
        group = items[index].group
        unit = layout.groups[group] if group is not None else (index,)
        cost = sum(items[i].tokens for i in unit)
        size = sum(1 for i in unit if items[i].role is not Role.SYSTEM)
        if spent + cost > budget or (limit is not None and count + size > limit):
            break
        chosen.update(unit)
        spent += cost
        count += size


def _without(items: Sequence[HistoryItem], chosen: set[int]) -> tuple[HistoryItem, ...]:
    """Everything not chosen, in order; chosen items are always among the newest, so the
    older part is copied whole."""
    first = min(chosen, default=len(items))
    return (*items[:first], *(items[i] for i in range(first, len(items)) if i not in chosen))


def _truncated(item: HistoryItem, budget: int, measure: TextMeasure) -> HistoryItem:
    """The item cut to fit `budget` tokens, ending with a marker when the marker fits."""
    room = budget - measure.count(TRUNCATION_MARKER)
    while room > 0:
        content = measure.truncate(item.content, room) + TRUNCATION_MARKER
        tokens = measure.count(content)
        if tokens <= budget:
            return replace(item, content=content, tokens=tokens, truncated=True)
        room -= tokens - budget
    content = measure.truncate(item.content, budget)
    return replace(item, content=content, tokens=measure.count(content), truncated=True)


# Invariants: each holds for every window `select_window` and `attach_summary` return.


def fits_budget(window: Window, max_tokens: int) -> bool:
    """The window, summary included, never costs more than the budget."""
    return window.tokens <= max_tokens


def keeps_newest_user_message(source: Sequence[HistoryItem], window: Window) -> bool:
    """The newest user message is in the window: whole, or truncated only when it alone
    exceeds the budget (and then it is all the window holds)."""
    newest = next((item for item in reversed(source) if item.role is Role.USER), None)
    if newest is None:
        return True
    found = [item for item in window.items if item.key == newest.key]
    if len(found) != 1:
        return False
    if found[0].truncated:
        return len(window.items) == 1 and found[0].content != newest.content
    return found[0] == newest


def keeps_order(source: Sequence[HistoryItem], window: Window) -> bool:
    """System items and the other items each keep their relative order from the source."""
    position = {item.key: index for index, item in enumerate(source)}
    kept = [item for item in window.items if item is not window.summary]
    for system in (True, False):
        places = [position[i.key] for i in kept if (i.role is Role.SYSTEM) is system]
        if places != sorted(places):
            return False
    return True


def system_first(window: Window) -> bool:
    """No system item comes after a user or assistant item."""
    roles = [item.role is Role.SYSTEM for item in window.items]
    return roles == sorted(roles, reverse=True)


def keeps_groups_whole(source: Sequence[HistoryItem], window: Window) -> bool:
    """A tool call and its result (items of one group) are kept together or dropped together."""
    kept = {item.key for item in window.items}
    by_group: dict[str, set[bool]] = {}
    for item in source:
        if item.group is not None:
            by_group.setdefault(item.group, set()).add(item.key in kept)
    return all(len(states) == 1 for states in by_group.values())


def drops_only_what_is_missing(source: Iterable[HistoryItem], window: Window) -> bool:
    """Every source item is either in the window or in `dropped`, never both."""
    kept = {item.key for item in window.items}
    dropped = {item.key for item in window.dropped}
    keys = [item.key for item in source]
    return not (kept & dropped) and set(keys) == (kept - {("summary",)}) | dropped
