"""`convo serve --workers N` refuses settings that one process alone can serve."""

from __future__ import annotations

import msgspec
import pytest

from entrypoints import serve as serve_module
from entrypoints.cli import main
from entrypoints.settings import Secret, Settings
from entrypoints.workers import refusal

SEVERAL = Settings(
    database_url="postgresql+asyncpg://convo@127.0.0.1/convo",
    redis_url="redis://127.0.0.1:6379/0",
    agent_service_url="http://127.0.0.1:8900",
    jwt_secret=Secret("s" * 40),
)


def test_redis_postgresql_an_agent_service_and_a_secret_run_several_workers() -> None:
    assert refusal(SEVERAL) is None


@pytest.mark.parametrize(
    ("change", "named"),
    [
        ({"redis_url": None}, "CONVO_REDIS_URL"),
        ({"database_url": "sqlite+aiosqlite:///./convo.db"}, "CONVO_DATABASE_URL"),
        ({"agent_service_url": None}, "CONVO_AGENT_SERVICE_URL"),
        ({"jwt_secret": None}, "CONVO_JWT_SECRET"),
    ],
)
def test_each_missing_part_is_named(change: dict[str, object], named: str) -> None:
    reason = refusal(msgspec.structs.replace(SEVERAL, **change))
    assert reason is not None and named in reason


def test_serve_refuses_before_it_binds_or_migrates(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def must_not_bind(host: str, port: int) -> None:
        raise AssertionError("bound a port for settings it refuses")

    monkeypatch.setattr(serve_module, "bind", must_not_bind)

    assert serve_module.serve(Settings(), "127.0.0.1", 0, worker_count=2) == 2
    assert "--workers 2: set CONVO_REDIS_URL" in capsys.readouterr().err


def test_the_worker_count_must_be_a_whole_number_of_at_least_one(
    capsys: pytest.CaptureFixture[str],
) -> None:
    for wrong in ("0", "-1", "two"):
        with pytest.raises(SystemExit) as exit_:
            main(["serve", "--workers", wrong])
        assert exit_.value.code == 2
        assert "--workers: expected a whole number of at least 1" in capsys.readouterr().err
