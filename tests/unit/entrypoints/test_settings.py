import re
from pathlib import Path

import msgspec
import pytest

from entrypoints.settings import Secret, SettingsError, env_name, load_settings, markdown_table

DOCS = Path(__file__).parents[3] / "docs" / "configuration.md"


def test_defaults_are_the_embedded_setup() -> None:
    settings = load_settings({})
    assert settings.database_url == "sqlite+aiosqlite:///./convo.db"
    assert settings.llm_base_url is None and settings.jwt_secret is None


def test_values_are_read_from_convo_variables_and_typed() -> None:
    settings = load_settings(
        {"CONVO_ECHO_DELAY_MS": "5", "CONVO_AUTO_MIGRATE": "false", "CONVO_SSE_HEARTBEAT_S": "2.5"}
    )
    assert (settings.echo_delay_ms, settings.auto_migrate, settings.sse_heartbeat_s) == (
        5,
        False,
        2.5,
    )


@pytest.mark.parametrize(
    ("variable", "value", "expected"),
    [
        ("CONVO_ECHO_DELAY_MS", "soon", "an integer >= 0 and <= 60000"),
        ("CONVO_ECHO_DELAY_MS", "-1", "an integer >= 0"),
        ("CONVO_AUTO_MIGRATE", "maybe", "true or false"),
        ("CONVO_LOG_LEVEL", "LOUD", "one of DEBUG, ERROR, INFO, WARNING"),
        ("CONVO_SSE_HEARTBEAT_S", "0", "a number > 0"),
        ("CONVO_DATABASE_URL", "mysql://db", "sqlite+aiosqlite:// or postgresql+asyncpg://"),
        ("CONVO_JWT_SECRET", "short", "at least 32 characters"),
        ("CONVO_LLM_BASE_URL", "ftp://x", "an http:// or https:// URL"),
    ],
)
def test_an_invalid_value_names_the_variable_and_the_expected_form(
    variable: str, value: str, expected: str
) -> None:
    with pytest.raises(SettingsError) as refused:
        load_settings({variable: value})
    message = str(refused.value)
    assert message.startswith(f"{variable}: expected")
    assert expected in message


def test_a_rejected_secret_is_not_repeated_in_the_error() -> None:
    with pytest.raises(SettingsError) as refused:
        load_settings({"CONVO_JWT_SECRET": "hunter2-but-short"})
    assert "hunter2" not in str(refused.value)


def test_secrets_never_show_in_reprs() -> None:
    settings = load_settings({"CONVO_JWT_SECRET": "s" * 40, "CONVO_LLM_API_KEY": "sk-very-secret"})
    assert "sk-very-secret" not in repr(settings) and "s" * 40 not in repr(settings)
    assert isinstance(settings.llm_api_key, Secret)
    assert settings.llm_api_key.reveal() == "sk-very-secret"


def test_a_plain_postgresql_url_means_asyncpg() -> None:
    settings = load_settings({"CONVO_DATABASE_URL": "postgresql://u@h/db"})
    assert settings.database_url == "postgresql+asyncpg://u@h/db"


def test_the_configuration_guide_documents_every_variable_with_its_default() -> None:
    text = DOCS.read_text()
    assert markdown_table() in text, "regenerate with: python -m entrypoints.settings"
    for field in msgspec.structs.fields(load_settings({})):
        assert re.search(rf"`{env_name(field.name)}`", text)
