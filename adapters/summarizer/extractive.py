"""A deterministic extractive summarizer: the embedded default, and the one tests rely on."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence

from application.ports.history import Summarizer, TokenCounter
from domain.messages import ChatTurn

_SENTENCE = re.compile(r"[^.!?\n]+[.!?]*")
_WORD = re.compile(r"\w+", re.UNICODE)
_STOPWORDS = frozenset(
    [
        "a",
        "an",
        "and",
        "are",
        "as",
        "at",
        "be",
        "but",
        "by",
        "can",
        "do",
        "for",
        "from",
        "has",
        "have",
        "how",
        "i",
        "if",
        "in",
        "is",
        "it",
        "its",
        "me",
        "my",
        "no",
        "not",
        "of",
        "on",
        "or",
        "our",
        "please",
        "so",
        "that",
        "the",
        "their",
        "then",
        "there",
        "this",
        "to",
        "was",
        "we",
        "what",
        "when",
        "which",
        "who",
        "will",
        "with",
        "you",
        "your",
    ]
)
MAX_SENTENCE_CHARS = 300


class ExtractiveSummarizer(Summarizer):
    """Picks the sentences that carry the conversation's most frequent content words.

    Each sentence is scored by the mean frequency, across all turns given, of its words other
    than stop words; the best go in until `max_tokens` is reached, each as `role: sentence`,
    in their original order. Same input, same summary; never more than `max_tokens` tokens."""

    def __init__(self, counter: TokenCounter) -> None:
        self._counter = counter

    async def summarize(self, turns: Sequence[ChatTurn], max_tokens: int) -> str:
        sentences = [
            (f"{turn.role.value}: {sentence.strip()[:MAX_SENTENCE_CHARS]}", sentence)
            for turn in turns
            for sentence in _SENTENCE.findall(turn.content)
            if _WORD.search(sentence)
        ]
        frequency = Counter(w for _, raw in sentences for w in _content_words(raw))
        ranked = sorted(
            range(len(sentences)), key=lambda i: (-_score(sentences[i][1], frequency), i)
        )
        chosen: list[int] = []
        spent = 0
        for position in ranked:
            cost = self._counter.count(sentences[position][0]) + 1
            if spent + cost <= max_tokens:
                chosen.append(position)
                spent += cost
        text = "\n".join(sentences[position][0] for position in sorted(chosen))
        return self._counter.truncate(text, max_tokens)


def _content_words(text: str) -> list[str]:
    return [w for w in (m.lower() for m in _WORD.findall(text)) if w not in _STOPWORDS]


def _score(sentence: str, frequency: Counter[str]) -> float:
    words = _content_words(sentence)
    return sum(frequency[w] for w in words) / len(words) if words else 0.0
