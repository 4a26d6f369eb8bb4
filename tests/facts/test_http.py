"""The one retry policy every HTTP client shares (engine.facts.http), against a real local server."""

from __future__ import annotations

from typing import Any

import pytest
import requests

from engine.facts import http
from tests.helpers.prometheus import Reply, fault_server

OK = Reply(200, "{}")


def policy(sleeps: list[float], **settings: Any) -> http.RetryPolicy:
    """A policy whose waits are recorded in `sleeps` instead of slept."""
    return http.RetryPolicy(sleep=sleeps.append, **settings)


def test_retry_after_is_waited_and_the_call_succeeds() -> None:
    sleeps: list[float] = []
    with fault_server(Reply(429, "{}", headers=(("Retry-After", "7"),)), OK) as server:
        answer = http.session(policy(sleeps), timeout=5).get(server.url)
    assert answer.status_code == 200 and len(server.seen) == 2
    assert sleeps == [7.0]


def test_without_retry_after_the_waits_double_from_the_backoff() -> None:
    sleeps: list[float] = []
    with fault_server(Reply(502, "{}"), Reply(503, "{}"), OK) as server:
        answer = http.session(policy(sleeps, backoff=0.5), timeout=5).get(server.url)
    assert answer.status_code == 200
    assert sleeps == [0.5, 1.0]


def test_the_last_failed_answer_reaches_the_caller_with_the_attempts_made() -> None:
    sleeps: list[float] = []
    with fault_server(Reply(503, "down")) as server:
        answer = http.session(policy(sleeps, attempts=3, backoff=0.01), timeout=5).post(server.url, data="q")
    assert answer.status_code == 503 and answer.text == "down" and len(server.seen) == 3
    stopped = http.stopped(answer)
    assert stopped is not None and stopped.note() == "gave up after 3 attempts"


def test_a_wait_past_max_wait_gives_up_at_once() -> None:
    sleeps: list[float] = []
    with fault_server(Reply(503, "{}", headers=(("Retry-After", "120"),))) as server:
        answer = http.session(policy(sleeps, attempts=5, max_wait=60), timeout=5).get(server.url)
    assert len(server.seen) == 1 and sleeps == []
    stopped = http.stopped(answer)
    assert stopped is not None
    assert stopped.note() == "retrying would need 120 s more; the limit is 60 s in all"


def test_other_client_errors_are_not_retried() -> None:
    sleeps: list[float] = []
    with fault_server(Reply(404, "{}")) as server:
        answer = http.session(policy(sleeps), timeout=5).get(server.url)
    assert answer.status_code == 404 and len(server.seen) == 1
    assert http.stopped(answer) is None


@pytest.mark.parametrize("retried", [False, True])
def test_a_read_timeout_is_retried_only_when_the_policy_says_so(retried: bool) -> None:
    sleeps: list[float] = []
    with fault_server(Reply(200, "{}", delay=0.6)) as server:
        with pytest.raises(requests.RequestException) as caught:
            http.session(policy(sleeps, read_timeouts=retried, backoff=0.01), timeout=(2, 0.2)).get(server.url)
    assert http.timed_out(caught.value)
    assert len(server.seen) == (3 if retried else 1)


def test_calls_name_changegate() -> None:
    with fault_server(OK) as server:
        http.session(policy([]), timeout=5).get(server.url)
    assert server.seen[0].headers["User-Agent"].startswith("changegate/")
