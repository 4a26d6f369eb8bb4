"""The fake GitHub itself: it must refuse to drift from GitHub's API description."""

from __future__ import annotations

from typing import Any

import pytest
import requests

from engine.facts.github_client import GitHub, GitHubError
from tests.helpers.fake_github import FakeGitHub

HEADERS = {"Authorization": "Bearer test-token", "Accept": "application/vnd.github+json"}
REVIEWS = "/repos/acme/models/pulls/7/reviews"


def _without_state(reviews: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{k: v for k, v in review.items() if k != "state"} for review in reviews]


@pytest.fixture
def server() -> Any:
    """A fake whose violations the test inspects itself (the fixture would fail on them)."""
    with FakeGitHub() as fake:
        fake.add_pull("acme", "models", 7, head_sha="a" * 40)
        fake.add_review("acme", "models", 7, user="alice", state="APPROVED")
        yield fake


def test_response_violating_the_schema_becomes_a_500_and_is_recorded(server: FakeGitHub) -> None:
    server.tamper(REVIEWS, _without_state)
    answer = requests.get(server.url + REVIEWS, headers=HEADERS, timeout=5)
    assert answer.status_code == 500
    (violation,) = server.take_violations()
    assert violation.phase == "response" and violation.path == REVIEWS
    assert "'state' is a required property" in violation.detail


def test_recorded_violation_fails_the_test_at_teardown(server: FakeGitHub) -> None:
    server.tamper(REVIEWS, _without_state)
    requests.get(server.url + REVIEWS, headers=HEADERS, timeout=5)
    with pytest.raises(AssertionError, match="GitHub's API description forbids"):
        server.assert_no_violations()
    server.take_violations()


def test_client_sees_a_drifted_response_as_a_server_error(server: FakeGitHub) -> None:
    server.tamper(REVIEWS, _without_state, times=None)
    with GitHub(server.url, environ={"GITHUB_TOKEN": "test-token"}, sleep=lambda _: None) as github:
        with pytest.raises(GitHubError) as caught:
            github.reviews("acme", "models", 7)
    assert caught.value.kind == "server_error"
    assert "violates GitHub's API description" in str(caught.value)
    assert len(server.take_violations()) == 4  # one per attempt


def test_request_violating_the_schema_is_recorded(server: FakeGitHub) -> None:
    # GitHub takes at most 50 annotations per request; the description says so too.
    annotation = {"path": "a.py", "start_line": 1, "end_line": 1, "annotation_level": "notice", "message": "m"}
    body = {
        "name": "changegate",
        "head_sha": "a" * 40,
        "output": {"title": "t", "summary": "s", "annotations": [annotation] * 51},
    }
    answer = requests.post(server.url + "/repos/acme/models/check-runs", json=body, headers=HEADERS, timeout=5)
    assert answer.status_code == 500
    (violation,) = server.take_violations()
    assert violation.phase == "request" and "is too long" in violation.detail
    assert server.check_runs == {}


def test_request_with_a_non_integer_page_is_recorded(server: FakeGitHub) -> None:
    answer = requests.get(server.url + REVIEWS, params={"page": "two"}, headers=HEADERS, timeout=5)
    assert answer.status_code == 500
    (violation,) = server.take_violations()
    assert violation.phase == "request" and "page" in violation.detail


def test_operation_outside_the_pinned_subset_is_recorded(server: FakeGitHub) -> None:
    answer = requests.get(server.url + "/repos/acme/models/issues", headers=HEADERS, timeout=5)
    assert answer.status_code == 500
    (violation,) = server.take_violations()
    assert "outside the pinned subset" in violation.detail or "no operation" in violation.detail


def test_injected_error_body_must_have_githubs_error_shape(server: FakeGitHub) -> None:
    server.inject(REVIEWS, 502)
    server.tamper(REVIEWS, lambda body: {"msg": 1})
    answer = requests.get(server.url + REVIEWS, headers=HEADERS, timeout=5)
    assert answer.status_code == 500
    (violation,) = server.take_violations()
    assert violation.status == 502


def test_pages_link_to_next_and_last_like_github(fake_github: FakeGitHub) -> None:
    fake_github.add_pull("acme", "models", 7, head_sha="a" * 40)
    for i in range(5):
        fake_github.add_review("acme", "models", 7, user=f"u{i}", state="COMMENTED")
    first = requests.get(fake_github.url + REVIEWS, params={"per_page": 2}, headers=HEADERS, timeout=5)
    assert [r["user"]["login"] for r in first.json()] == ["u0", "u1"]
    assert first.links["next"]["url"].endswith("per_page=2&page=2")
    assert first.links["last"]["url"].endswith("per_page=2&page=3")
    last = requests.get(first.links["last"]["url"], headers=HEADERS, timeout=5)
    assert [r["user"]["login"] for r in last.json()] == ["u4"]
    assert "next" not in last.links and last.links["prev"]["url"].endswith("page=2")


def test_files_listing_stops_at_3000_like_github(fake_github: FakeGitHub) -> None:
    fake_github.add_pull("acme", "models", 7, head_sha="a" * 40)
    fake_github.add_files("acme", "models", 7, (f"f{i}" for i in range(3100)))
    url = fake_github.url + "/repos/acme/models/pulls/7"
    assert requests.get(url, headers=HEADERS, timeout=5).json()["changed_files"] == 3100
    page_30 = requests.get(url + "/files", params={"per_page": 100, "page": 30}, headers=HEADERS, timeout=5)
    assert page_30.json()[-1]["filename"] == "f2999" and "next" not in page_30.links
    page_31 = requests.get(url + "/files", params={"per_page": 100, "page": 31}, headers=HEADERS, timeout=5)
    assert page_31.json() == []


def test_injected_faults_apply_to_the_next_requests_only(fake_github: FakeGitHub) -> None:
    fake_github.add_pull("acme", "models", 7, head_sha="a" * 40)
    url = fake_github.url + "/repos/acme/models/pulls/7"
    fake_github.inject("/repos/acme/models/pulls/7", 429, times=2, headers={"retry-after": "3"})
    statuses = [requests.get(url, headers=HEADERS, timeout=5) for _ in range(3)]
    assert [a.status_code for a in statuses] == [429, 429, 200]
    assert statuses[0].headers["retry-after"] == "3"


def test_wrong_token_is_answered_401(fake_github: FakeGitHub) -> None:
    fake_github.add_pull("acme", "models", 7, head_sha="a" * 40)
    answer = requests.get(
        fake_github.url + "/repos/acme/models/pulls/7", headers={"Authorization": "Bearer nope"}, timeout=5
    )
    assert answer.status_code == 401 and answer.json()["message"] == "Bad credentials"
