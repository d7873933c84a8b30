"""Backoff, Retry-After and which failures may be retried (Story 7)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from adapters.agent_service.retry import (
    CONNECTION_FAILED,
    BackoffSchedule,
    RetryPolicy,
    parse_retry_after,
)

NOW = datetime(2025, 6, 1, 12, 0, 0, tzinfo=UTC)


def test_backoff_doubles_from_one_second_without_jitter_at_the_midpoint() -> None:
    schedule = BackoffSchedule(base_s=1.0, jitter=0.25)
    assert [schedule.delay(n, lambda: 0.5) for n in range(3)] == [1.0, 2.0, 4.0]


@given(retry=st.integers(min_value=0, max_value=10), draw=st.floats(min_value=0, max_value=1))
def test_every_jittered_wait_lies_within_its_bounds(retry: int, draw: float) -> None:
    schedule = BackoffSchedule(base_s=1.0, max_s=30.0, jitter=0.25)
    low, high = schedule.bounds(retry)
    assert low <= schedule.delay(retry, lambda: draw) <= high
    assert high <= 30.0 * 1.25


def test_jitter_spreads_waits_across_the_whole_band() -> None:
    schedule = BackoffSchedule(base_s=2.0, jitter=0.5)
    assert schedule.delay(0, lambda: 0.0) == 1.0
    assert schedule.delay(0, lambda: 1.0) == 3.0


def test_retry_after_in_seconds() -> None:
    assert parse_retry_after("7", NOW) == 7.0
    assert parse_retry_after(" 0 ", NOW) == 0.0


def test_retry_after_as_an_http_date() -> None:
    later = "Sun, 01 Jun 2025 12:00:30 GMT"
    assert parse_retry_after(later, NOW) == 30.0


def test_retry_after_in_the_past_means_now() -> None:
    assert parse_retry_after("Sun, 01 Jun 2025 11:59:00 GMT", NOW) == 0.0


@pytest.mark.parametrize("value", [None, "", "soon", "-3", "1.5", "Sun, 99 Foo 2025"])
def test_unreadable_retry_after_is_ignored(value: str | None) -> None:
    assert parse_retry_after(value, NOW) is None


def test_a_date_retry_after_tracks_the_clock() -> None:
    when = (NOW + timedelta(seconds=90)).strftime("%a, %d %b %Y %H:%M:%S GMT")
    assert parse_retry_after(when, NOW) == 90.0


POLICY = RetryPolicy(unavailable_retries=3, server_error_retries=1, max_retry_after_s=30.0)


@pytest.mark.parametrize("status", [CONNECTION_FAILED, 503, 502, 504, 429])
def test_connection_errors_and_unavailable_are_retried_three_times(status: int) -> None:
    waits = [POLICY.delay_before_retry(status, n, uniform=lambda: 0.5) for n in range(4)]
    assert waits == [1.0, 2.0, 4.0, None]


def test_a_500_is_retried_once() -> None:
    assert POLICY.delay_before_retry(500, 0, uniform=lambda: 0.5) == 1.0
    assert POLICY.delay_before_retry(500, 1, uniform=lambda: 0.5) is None


@pytest.mark.parametrize("status", [400, 401, 403, 404, 408, 409, 410, 413, 422])
def test_client_errors_and_408_are_never_retried(status: int) -> None:
    assert POLICY.delay_before_retry(status, 0) is None


def test_retry_after_is_a_floor_only_lengthened_by_jitter() -> None:
    assert POLICY.delay_before_retry(503, 0, 7.0, uniform=lambda: 0.0) == 7.0
    assert POLICY.delay_before_retry(503, 0, 7.0, uniform=lambda: 1.0) == 7.0 * 1.25


def test_a_retry_after_shorter_than_the_backoff_leaves_the_backoff() -> None:
    assert POLICY.delay_before_retry(503, 2, 0.0, uniform=lambda: 0.5) == 4.0


def test_a_retry_after_beyond_the_limit_ends_the_retries() -> None:
    assert POLICY.delay_before_retry(503, 0, 31.0) is None


def test_retries_count_across_categories() -> None:
    assert POLICY.delay_before_retry(500, 2) is None
