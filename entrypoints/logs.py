"""Process logging: one format, and secrets scrubbed from every line whoever logs it."""

from __future__ import annotations

import logging
import re
import sys

_SECRETS = [
    (re.compile(r"(access_token=)[^&\s\"']+"), r"\1[redacted]"),
    (re.compile(r"(?i)(bearer\s+)[A-Za-z0-9._~+/=-]+"), r"\1[redacted]"),
    (re.compile(r"(?i)(x-api-key[\"']?\s*[:=]\s*[\"']?)[^\s\"',}]+"), r"\1[redacted]"),
]

# uvicorn's sans-I/O WebSocket protocol reports a handshake we deliberately refused with an
# HTTP response (the ASGI denial extension) as an error; it is an ordinary 401/404.
_REFUSED_HANDSHAKE = "ASGI callable returned without completing handshake."


def scrub(text: str) -> str:
    """`text` with bearer tokens, access_token parameters and API key values redacted."""
    for pattern, replacement in _SECRETS:
        text = pattern.sub(replacement, text)
    return text


class ScrubbingFormatter(logging.Formatter):
    """Formats as usual, tracebacks included, then scrubs secrets from the whole line."""

    def format(self, record: logging.LogRecord) -> str:
        return scrub(super().format(record))


class _QuietRefusedHandshakes(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return record.getMessage() != _REFUSED_HANDSHAKE


def configure_logging(level: str = "INFO") -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(
        ScrubbingFormatter("%(asctime)s %(levelname)s %(name)s: %(message)s", "%Y-%m-%dT%H:%M:%S")
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        logging.getLogger(name).handlers[:] = []
        logging.getLogger(name).propagate = True
    logging.getLogger("uvicorn.error").addFilter(_QuietRefusedHandshakes())
