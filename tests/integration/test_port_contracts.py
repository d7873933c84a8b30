"""The fakes of the delegation ports obey the same contracts as the real adapters: the
tokenizer and the summarizers. (Storage: test_delegation_repositories.py.)"""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from adapters.summarizer.extractive import ExtractiveSummarizer
from adapters.tokenizer.tiktoken_counter import TiktokenCounter
from application.ports.history import Summarizer, TokenCounter
from domain.messages import ChatTurn, Role
from tests.fakes.delegation import FirstWordsSummarizer, WordCounter

COUNTERS = {
    "fake": WordCounter(),
    "o200k_base": TiktokenCounter("o200k_base"),
    "cl100k_base": TiktokenCounter("cl100k_base"),
}


@pytest.mark.parametrize("name", list(COUNTERS))
@settings(max_examples=100, deadline=None)
@given(text=st.text(max_size=300), limit=st.integers(0, 50))
def test_a_token_counter_truncates_to_a_prefix_within_the_limit(
    name: str, text: str, limit: int
) -> None:
    counter = COUNTERS[name]
    cut = counter.truncate(text, limit)
    assert counter.count(cut) <= limit and text.startswith(cut)
    if counter.count(text) <= limit:
        assert cut == text


@pytest.mark.parametrize("name", list(COUNTERS))
def test_a_token_counter_names_its_vocabulary_and_counts_nothing_as_zero(name: str) -> None:
    counter: TokenCounter = COUNTERS[name]
    assert counter.encoding and counter.count("") == 0 and counter.count("two words") >= 2


@pytest.fixture(params=["fake", "extractive"])
def summarizer(request: pytest.FixtureRequest) -> tuple[Summarizer, TokenCounter]:
    if request.param == "fake":
        words = WordCounter()
        return FirstWordsSummarizer(), words
    return ExtractiveSummarizer(COUNTERS["o200k_base"]), COUNTERS["o200k_base"]


TURNS = [
    ChatTurn(Role.USER, "Find the invoice for order 4711, please."),
    ChatTurn(Role.ASSISTANT, "Invoice 4711 is from March. Shall I send it?"),
    ChatTurn(Role.USER, "Yes, send the invoice to finance."),
]


@pytest.mark.parametrize("budget", [1, 5, 20, 200])
async def test_a_summarizer_stays_within_its_budget_and_repeats_itself(
    summarizer: tuple[Summarizer, TokenCounter], budget: int
) -> None:
    made, counter = summarizer
    first = await made.summarize(TURNS, budget)
    assert counter.count(first) <= budget
    assert first == await made.summarize(TURNS, budget)
    if budget >= 20:
        assert first
