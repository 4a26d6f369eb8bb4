"""`require: {approvals}` through the Facts interface: signed records in the notes on the judged
tree, counted by engine/approvals.py's tally. Signing is proven with real keys and pushes in
tests/approvals."""

from __future__ import annotations

from tests.rules._memory import outcome

POLICY = """\
version: 1
rules:
  - id: two-reviewers
    require: {approvals: {count: 2}}
"""


def test_without_trust_no_signed_approval_can_count() -> None:
    found = outcome(POLICY)
    assert found.status == "fail" and "0 valid approval(s) of 2" in found.message


def test_a_missing_webhook_notice_is_data_not_a_request() -> None:
    """The rule asks for a notification by returning it; judging sends nothing."""
    found = outcome(POLICY.replace("{count: 2}", "{count: 2, notify: {webhook: 'http://127.0.0.1:9/hook'}}"))
    assert found.notice is not None and found.notice.url == "http://127.0.0.1:9/hook"
    assert found.notice.payload["needed"] == 2 and "notified" not in found.message
