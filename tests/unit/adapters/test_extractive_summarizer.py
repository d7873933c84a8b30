from hypothesis import given, settings
from hypothesis import strategies as st

from adapters.summarizer.extractive import ExtractiveSummarizer
from adapters.tokenizer.tiktoken_counter import TiktokenCounter
from domain.messages import ChatTurn, Role

COUNTER = TiktokenCounter()
TURNS = [
    ChatTurn(Role.USER, "I need the invoice for order 4711. The invoice was due in March."),
    ChatTurn(Role.ASSISTANT, "Sure. I found invoice 4711 for March. Do you want the PDF?"),
    ChatTurn(Role.USER, "Nice weather today!"),
    ChatTurn(Role.USER, "Yes, send the invoice PDF to finance."),
]


async def test_it_keeps_the_sentences_about_what_the_conversation_is_about() -> None:
    summary = await ExtractiveSummarizer(COUNTER).summarize(TURNS, 40)
    assert "invoice" in summary and "weather" not in summary
    assert COUNTER.count(summary) <= 40
    lines = summary.splitlines()
    assert all(line.startswith(("user: ", "assistant: ")) for line in lines)
    order = [
        next(i for i, t in enumerate(TURNS) if line.split(": ", 1)[1] in t.content)
        for line in lines
    ]
    assert order == sorted(order)


async def test_the_same_turns_give_the_same_summary() -> None:
    summarizer = ExtractiveSummarizer(COUNTER)
    assert await summarizer.summarize(TURNS, 30) == await summarizer.summarize(TURNS, 30)


async def test_nothing_to_say_gives_an_empty_summary() -> None:
    summarizer = ExtractiveSummarizer(COUNTER)
    assert await summarizer.summarize([], 50) == ""
    assert await summarizer.summarize([ChatTurn(Role.USER, "?!")], 50) == ""


@settings(max_examples=100, deadline=None)
@given(st.lists(st.text(max_size=400), max_size=10), st.integers(1, 80))
async def test_a_summary_never_exceeds_its_budget(texts: list[str], budget: int) -> None:
    turns = [ChatTurn(Role.USER, text) for text in texts]
    summary = await ExtractiveSummarizer(COUNTER).summarize(turns, budget)
    assert COUNTER.count(summary) <= budget
