import pytest

from entrypoints.settings import SettingsError, load_settings


def test_the_reference_agent_defaults_pace_a_demo_and_bound_memory() -> None:
    settings = load_settings({})
    assert settings.reference_agent_first_event_ms == 200
    assert settings.reference_agent_event_delay_ms == 40
    assert settings.reference_agent_heartbeat_s == 15.0
    assert settings.reference_agent_question_ttl_s == 300.0
    assert settings.reference_agent_session_ttl_s == 3600.0
    assert settings.reference_agent_max_sessions == 10_000


@pytest.mark.parametrize(
    ("variable", "value", "expected"),
    [
        ("CONVO_REFERENCE_AGENT_FIRST_EVENT_MS", "-1", "an integer >= 0"),
        ("CONVO_REFERENCE_AGENT_EVENT_DELAY_MS", "slow", "an integer >= 0 and <= 600000"),
        ("CONVO_REFERENCE_AGENT_HEARTBEAT_S", "0", "a number > 0"),
        ("CONVO_REFERENCE_AGENT_QUESTION_TTL_S", "never", "a number > 0"),
        ("CONVO_REFERENCE_AGENT_SESSION_TTL_S", "-5", "a number > 0"),
        ("CONVO_REFERENCE_AGENT_MAX_SESSIONS", "0", "an integer >= 1"),
    ],
)
def test_an_invalid_reference_agent_setting_names_its_variable(
    variable: str, value: str, expected: str
) -> None:
    with pytest.raises(SettingsError) as refused:
        load_settings({variable: value})
    assert str(refused.value).startswith(f"{variable}: expected {expected}")
