import logging

from entrypoints.logs import ScrubbingFormatter, scrub


def test_tokens_and_keys_are_scrubbed() -> None:
    line = (
        "GET /api/v1/conversations/1/events?access_token=eyJ.abc.def&since=3 "
        "Authorization: Bearer eyJhbGci.x.y X-API-Key: sk-123 {'x-api-key': 'sk-456'}"
    )
    cleaned = scrub(line)
    for secret in ("eyJ.abc.def", "eyJhbGci.x.y", "sk-123", "sk-456"):
        assert secret not in cleaned
    assert "since=3" in cleaned


def test_the_formatter_scrubs_tracebacks_too() -> None:
    try:
        raise ValueError("bad url ?access_token=eyJsecret")
    except ValueError:
        record = logging.LogRecord("t", logging.ERROR, __file__, 1, "failed", None, None)
        import sys

        record.exc_info = sys.exc_info()
    assert "eyJsecret" not in ScrubbingFormatter().format(record)
