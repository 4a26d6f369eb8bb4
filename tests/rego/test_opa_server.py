"""Rego rules asked of an OPA server (`rego: {opa: {path}}`, `sources.opa`).

No OPA binary can be installed where these tests run, so the server is a STAND-IN
(tests/helpers/fake_opa.py): it speaks OPA's REST Data API and evaluates with regopy, and
every request and response is validated against the OpenAPI description OPA's official
SDKs are generated from (tests/rego/openapi/). What is proven here is changegate's side of
that contract (opa-python-client's requests, reading answers, timeouts, errors, the
decision id in the audit log), not OPA's own evaluation.
"""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from engine.audit import read
from engine.decision import Outcome
from engine.rego.opa import OpaError, OpaServer
from tests.helpers.fake_opa import FakeOPA
from tests.helpers.repos import protected
from tests.rules._memory import commit, outcome

MODULE = """package changegate

import rego.v1

deny contains msg if {
\tsome p in input.paths
\tstartswith(p.path, "secrets/")
\tmsg := sprintf("%s: secrets never go into git", [p.path])
}

warn contains "prompt changed: ask for a review" if {
\tsome p in input.paths
\tstartswith(p.path, "prompts/")
}
"""


@pytest.fixture
def opa() -> Iterator[FakeOPA]:
    with FakeOPA({"changegate.rego": MODULE}) as server:
        yield server
        server.assert_no_violations()


def policy(url: str, body: str = "{opa: {path: changegate}}", timeout: str = "2s") -> str:
    return (f"version: 1\nname: opa-test\nsources: {{opa: {{url: '{url}', timeout: {timeout}}}}}\n"
            f"rules:\n  - id: opa-rule\n    rego: {body}\n")


def judged(url: str, *paths: str, body: str = "{opa: {path: changegate}}", timeout: str = "2s") -> Outcome:
    return outcome(policy(url, body, timeout), stage="push", commits=(commit(*paths),))


def test_client_requests_and_the_stand_in_answers_follow_opas_api_description(opa: FakeOPA) -> None:
    decision = OpaServer({"url": opa.url}, {}).decide("changegate/deny", {"paths": [{"path": "secrets/k"}]})
    assert decision.result == ["secrets/k: secrets never go into git"]
    assert decision.decision_id == opa.decisions[-1]
    [request] = opa.received
    assert (request.method, request.path, request.query) == ("POST", "/v1/data/changegate/deny",
                                                             {"strict-builtin-errors": "true"})
    assert request.body == {"input": {"paths": [{"path": "secrets/k"}]}}


def test_stand_in_flags_a_request_outside_the_description(opa: FakeOPA) -> None:
    """The validation can fail: a body without `input` is reported as a violation."""
    requests.post(f"{opa.url}/v1/data/changegate", json={"inptu": {}}, timeout=5)
    assert [v.direction for v in opa.violations] == ["request"]
    opa.violations.clear()


def test_deny_from_the_server_fails_the_rule_with_its_decision_id(opa: FakeOPA) -> None:
    o = judged(opa.url, "secrets/api.key")
    assert (o.status, o.message) == ("fail", "secrets/api.key: secrets never go into git")
    assert o.decision_id == opa.decisions[-1] and f"OPA decision id {o.decision_id}" in o.seen


def test_one_rule_path_reads_that_rule(opa: FakeOPA) -> None:
    assert judged(opa.url, "prompts/a.txt", body="{opa: {path: changegate/warn}}").status == "warn"
    assert judged(opa.url, "prompts/a.txt", body="{opa: {path: changegate/deny}}").status == "pass"


def test_timeout_denies_by_default_naming_the_timeout(opa: FakeOPA) -> None:
    opa.delay = 1.0
    o = judged(opa.url, "docs/a.md", timeout="200ms")
    assert o.status == "error"
    assert "OPA timeout" in o.message and "within 200ms" in o.message


def test_timeout_with_on_error_allow_passes_saying_why(opa: FakeOPA) -> None:
    opa.delay = 1.0
    o = judged(opa.url, "secrets/api.key", body="{opa: {path: changegate}, on_error: allow}", timeout="200ms")
    assert o.status == "pass" and o.message.startswith("allowed by policy although OPA timeout")


def test_server_error_denies_with_what_opa_said(opa: FakeOPA) -> None:
    opa.error = (500, {"code": "internal_error", "message": "storage closed"})
    o = judged(opa.url, "docs/a.md")
    assert o.status == "error"
    assert "HTTP 500 (internal_error: storage closed)" in o.message


def test_evaluation_error_on_the_server_denies() -> None:
    broken = 'package changegate\nimport rego.v1\ndeny contains msg if { msg := sprintf("%d", ["x"]) }\n'
    with FakeOPA({"c.rego": broken}) as server:
        o = judged(server.url, "docs/a.md")
        server.assert_no_violations()
    assert o.status == "error" and "internal_error" in o.message and "sprintf" in o.message


def test_malformed_answer_denies(opa: FakeOPA) -> None:
    opa.malformed = (200, b"<html>proxy error</html>")
    o = judged(opa.url, "docs/a.md")
    assert o.status == "error" and "OPA malformed" in o.message and "not JSON" in o.message


def test_answer_that_is_not_an_object_denies(opa: FakeOPA) -> None:
    opa.malformed = (200, b"[1, 2]")
    o = judged(opa.url, "docs/a.md")
    assert o.status == "error" and "not a JSON object" in o.message


def test_undefined_document_denies(opa: FakeOPA) -> None:
    o = judged(opa.url, "docs/a.md", body="{opa: {path: nothere/deny}}")
    assert o.status == "error" and "nothere/deny is undefined" in o.message
    assert o.decision_id == opa.decisions[-1]


def test_unreachable_server_denies() -> None:
    with socket.socket() as sock:  # a port nothing listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    o = judged(f"http://127.0.0.1:{port}", "docs/a.md")
    assert o.status == "error" and "OPA unreachable" in o.message


def test_token_variable_is_sent_as_bearer_and_a_missing_one_is_a_config_error(opa: FakeOPA) -> None:
    OpaServer({"url": opa.url, "token_env": "OPA_TOKEN"}, {"OPA_TOKEN": "s3cret"}).decide("changegate", {})
    assert opa.received[-1].headers.get("Authorization") == "Bearer s3cret"
    with pytest.raises(OpaError, match="OPA_TOKEN is not set"):
        OpaServer({"url": opa.url, "token_env": "OPA_TOKEN"}, {})


def test_real_push_is_judged_by_the_server_and_the_decision_id_is_audited(tmp_path: Path, opa: FakeOPA) -> None:
    server, clone = protected(tmp_path, policy(opa.url))
    clone.commit("key", "secrets/api.key")
    result = clone.push("HEAD:refs/heads/main")
    assert result.code != 0
    assert "secrets/api.key: secrets never go into git" in result.remote
    audited = read(str(server.audit_log))[-1]["outcomes"][0]
    assert (audited["status"], audited["decision_id"]) == ("fail", opa.decisions[-1])
    pushed = opa.received[-1].body["input"]
    assert pushed["stage"] == "push" and [p["path"] for p in pushed["paths"]] == ["secrets/api.key"]


def test_real_push_fails_closed_when_the_server_times_out(tmp_path: Path, opa: FakeOPA) -> None:
    server, clone = protected(tmp_path, policy(opa.url, timeout="300ms"))
    opa.delay = 1.5
    clone.commit("docs", "docs/a.md")
    result = clone.push("HEAD:refs/heads/main")
    assert result.code != 0
    assert "did not answer" in result.remote and "within 300ms" in result.remote
    assert "Traceback" not in result.out


def test_server_behind_a_path_prefix_is_asked_under_it() -> None:
    with FakeOPA({"changegate.rego": MODULE}, prefix="/gateway/opa") as server:
        decision = OpaServer({"url": server.url}, {}).decide("changegate/deny", {"paths": []})
        server.assert_no_violations()
    assert decision.result == []
    assert server.received[-1].path == "/v1/data/changegate/deny"
