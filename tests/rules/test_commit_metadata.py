"""`require: {commit_metadata: ...}` on described data (MemoryFacts): message and e-mail patterns
(RE2), the committer-is-pusher check with and without trust.identities, and patterns RE2 cannot
compile rejected with file:line. Real pushes: tests/security/test_commit_metadata_push.py."""

from __future__ import annotations

import time

import pytest

from engine.change import Actor, Change, Commit, CommitDetails, RefUpdate
from engine.facts.memory import MemoryFacts
from engine.identities import parse_identities
from engine.judge import judge
from engine.policy import PolicyError
from engine.policy.compile import compile_policy
from engine.policy.regex import compile_regex
from tests.rules._memory import OLD, TREE, outcome

FIRST, SECOND = "1" * 40, "2" * 40


def policy(body: str) -> str:
    return f"version: 1\nname: meta\nrules:\n  - id: meta\n    require:\n      commit_metadata: {body}\n"


def made(author: str = "ann@example.com", committer: str = "ann@example.com") -> list[Commit]:
    return [Commit(FIRST, TREE, (OLD,), "Ann", "ann@example.com", (), "Ann", "ann@example.com"),
            Commit(SECOND, TREE, (FIRST,), "Ann", author, (), "Ann", committer)]


def messages(second: str) -> dict[str, CommitDetails]:
    return {FIRST: CommitDetails("fix: a typo\n\nlonger text\n"), SECOND: CommitDetails(second)}


def test_message_pattern_passes_and_names_each_commit_that_breaks_it() -> None:
    body = "{message: '^(feat|fix|docs)(\\(.+\\))?: .+'}"
    assert outcome(policy(body), commits=made(), details=messages("docs(readme): say more\n")).status == "pass"
    found = outcome(policy(body), commits=made(), details=messages("wip\n"))
    assert found.status == "fail" and "1 of 2 new commit(s) break the commit metadata rules" in found.message
    [line] = found.seen
    assert line.startswith(f"commit {SECOND[:10]} on refs/heads/main by Ann <ann@example.com>: ")
    assert "message 'wip' does not match ^(feat|fix|docs)" in line


def test_message_patterns_are_found_anywhere_unless_anchored() -> None:
    unanchored = outcome(policy("{message: 'JIRA-[0-9]+'}"), commits=made(), details={
        FIRST: CommitDetails("see JIRA-12\n"), SECOND: CommitDetails("body\n\nRefs: JIRA-7\n")})
    assert unanchored.status == "pass"
    anchored = outcome(policy("{message: '^JIRA-[0-9]+'}"), commits=made(), details={
        FIRST: CommitDetails("JIRA-12: x\n"), SECOND: CommitDetails("body\n\nRefs: JIRA-7\n")})
    assert anchored.status == "fail" and SECOND[:10] in anchored.seen[0]


def test_a_commit_whose_message_cannot_be_read_is_denied() -> None:
    found = outcome(policy("{message: 'x'}"), commits=made(), details={FIRST: CommitDetails("x\n")})
    assert found.status == "fail" and "its message could not be read" in found.seen[0]


def test_author_and_committer_email_patterns() -> None:
    body = "{author_email: '@example\\.com$', committer_email: '^[^@]+@example\\.com$'}"
    assert outcome(policy(body), commits=made()).status == "pass"
    found = outcome(policy(body), commits=made(author="ann@example.com.evil.org", committer="eve@evil.org"))
    assert found.status == "fail"
    assert "author email <ann@example.com.evil.org> does not match @example\\.com$" in found.seen[0]
    assert "committer email <eve@evil.org> does not match" in found.seen[0]


def test_a_catastrophic_backtracking_pattern_runs_in_linear_time() -> None:
    """(a+)+$ takes exponential time in a backtracking engine on 'aaa...!'; RE2 answers at once."""
    text = "a" * 200_000 + "!"
    body = "{message: '^(a+)+$'}"
    started = time.perf_counter()
    found = outcome(policy(body), commits=made(), details={FIRST: CommitDetails(text), SECOND: CommitDetails(text)})
    assert time.perf_counter() - started < 2.0
    assert found.status == "fail"
    assert compile_regex("(a+)+$").search("a" * 30 + "!") is None


@pytest.mark.parametrize(("pattern", "why"), [
    ("(?=fix)", "invalid perl operator: (?="),
    ("(?<!x)y", "invalid perl operator: (?<"),
    ("(a)\\1", "invalid escape sequence: \\1"),
    ("[", "missing ]"),
    ("a{5000}", "invalid repetition size"),
])
def test_patterns_re2_cannot_compile_are_rejected_with_file_and_line(pattern: str, why: str) -> None:
    text = f"version: 1\nname: meta\nrules:\n  - id: meta\n    require:\n      commit_metadata:\n" \
           f"        author_email: '@example\\.com$'\n        message: \"{pattern.replace(chr(92), chr(92) * 2)}\"\n"
    with pytest.raises(PolicyError) as caught:
        compile_policy(text.encode(), "policy.yml")
    [problem] = caught.value.problems
    assert (problem.source, problem.line) == ("policy.yml", 8)
    assert "rules[0].require.commit_metadata.message" in problem.message and why in problem.message
    assert "is not an RE2 regular expression" in problem.message


def test_an_over_long_pattern_is_rejected_by_the_schema() -> None:
    with pytest.raises(PolicyError) as caught:
        compile_policy(policy("{message: '" + "a" * 1001 + "'}").encode(), "policy.yml")
    assert "limit is 1,000" in str(caught.value)


IDENTITIES = b"""version: 1
people:
  ann:
    users: [ann]
    emails: [ann@example.com, ann@home.example]
  eve:
    users: [eve]
    emails: [eve@example.com]
"""


def pushed_by(user: str, commits: list[Commit], *, identities: bool) -> object:
    compiled = compile_policy(policy("{committer_is_pusher: true}").encode(), "policy.yml")
    update = RefUpdate(OLD, commits[-1].oid, b"refs/heads/main")
    facts = MemoryFacts(Change((update,), Actor(user, "gitlab", "GL_USERNAME"), "push"),
                        brings={update.ref: commits}, policy=compiled,
                        identities=parse_identities(IDENTITIES, "identities.yml") if identities else None)
    [found] = [o for o in judge(compiled, facts).outcomes if o.rule == "meta"]
    return found


def test_committer_is_pusher_through_identities() -> None:
    assert pushed_by("ann", made(committer="Ann@Home.Example"), identities=True).status == "pass"
    other = pushed_by("eve", made(), identities=True)
    assert other.status == "fail" and len(other.seen) == 2
    assert "committed by <ann@example.com>, which identities.yml does not list for the pusher eve" in other.seen[0]
    stranger = pushed_by("mallory", made(), identities=True)
    assert stranger.status == "fail" and "the pusher mallory is not among the users of identities.yml" in \
        stranger.seen[0]


def test_committer_is_pusher_without_identities_accepts_only_a_user_name_equal_to_the_address() -> None:
    assert pushed_by("ann@example.com", made(), identities=False).status == "pass"
    unsure = pushed_by("ann", made(), identities=False)  # probably the same person, but nothing says so
    assert unsure.status == "fail"
    assert "the policy names no trust.identities to tell whether user ann is that person" in unsure.seen[0]
    assert pushed_by("", made(), identities=False).status == "fail"
