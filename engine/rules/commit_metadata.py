"""`require: {commit_metadata: {message: RE, author_email: RE, committer_email: RE,
committer_is_pusher: true}}`: what every new commit says about itself.

Patterns are RE2 regular expressions (engine/policy/regex.py: linear time, so no pattern can
hang the hook; one RE2 cannot compile is rejected when the policy loads). A pattern must be
found somewhere in the value, as GitLab's push rules match; anchor it (`^...$`) to match the
whole. The message is matched without its final line breaks, so `$` ends its last line.

`committer_is_pusher` is GitLab's "committer is the current user": the pusher's server user
name and each commit's committer address must be the same person, by the administrator's
trust.identities (people -> users and emails). Without that file the only proof accepted is a
user name equal to the address (servers whose user names are addresses); anything else is
doubt, which denies and says so.
"""

from __future__ import annotations

from engine.change import Commit, RefUpdate, show
from engine.decision import Outcome
from engine.rules.base import Rule, short

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, NamedTuple

    from engine.facts.interface import Facts
else:
    from engine.lighttuple import NamedTuple

_SHOWN = 72  # characters of a message's first line quoted in a denial


class CommitMetadataParams(NamedTuple):
    message: str | None = None
    author_email: str | None = None
    committer_email: str | None = None
    committer_is_pusher: bool = False


class CommitMetadata(Rule):
    kind = "require.commit_metadata"
    Params = CommitMetadataParams
    params: CommitMetadataParams
    regex_fields = ("message", "author_email", "committer_email")

    def evaluate(self, facts: Facts, updates: list[RefUpdate]) -> Outcome:
        from engine.facts.interface import TrustError
        from engine.policy.regex import compile_regex

        required = self._required(facts)
        brought: dict[str, tuple[RefUpdate, Commit]] = {}
        trees = []
        for u in updates:
            for commit in facts.commits_for(u, self.refs):
                if commit.oid == commit.tree:
                    trees.append(f"{u.name} points at tree {short(commit.oid)}, which has no commit message or "
                                 "committer")
                else:
                    brought.setdefault(commit.oid, (u, commit))
        if trees:
            return self.outcome("fail", f"{len(trees)} ref(s) point at a tree instead of a commit", seen=trees,
                                required=required, fix="push commits")
        if not brought:
            return self.outcome("pass", "no new commit to judge")
        patterns: dict[str, Any] = {field: compile_regex(value) for field in self.regex_fields
                                    if (value := getattr(self.params, field)) is not None}
        messages: dict[str, str] = {}
        if "message" in patterns:
            messages = {oid: d.message for oid, d in facts.commit_details(list(brought)).items()}
        pusher = None
        if self.params.committer_is_pusher:
            try:
                pusher = _Pusher(facts)
            except TrustError as exc:
                return self.outcome("fail", f"who the pusher is cannot be told: {exc}", required=required,
                                    fix="an administrator must fix the file the policy's trust.identities names")
        denied: list[str] = []
        for oid, (u, commit) in brought.items():
            why = []
            if "message" in patterns:
                message = messages.get(oid)
                if message is None:
                    why.append("its message could not be read")
                elif not patterns["message"].search(message.rstrip("\n")):
                    first = message.partition("\n")[0]
                    quoted = first if len(first) <= _SHOWN else first[:_SHOWN] + "..."
                    why.append(f"message {show(quoted)!r} does not match {self.params.message}")
            for field, value in (("author_email", commit.author_email), ("committer_email", commit.committer_email)):
                if field in patterns and not patterns[field].search(value):
                    pattern = getattr(self.params, field)
                    why.append(f"{field.replace('_', ' ')} <{show(value)}> does not match {pattern}")
            if pusher is not None:
                why += pusher.why_not(commit)
            if why:
                denied.append(f"commit {short(oid)} on {u.name} by {show(commit.author_name)} "
                              f"<{show(commit.author_email)}>: {'; '.join(why)}")
        if not denied:
            return self.outcome("pass", f"{len(brought)} new commit(s) meet the commit metadata rules")
        return self.outcome("fail", f"{len(denied)} of {len(brought)} new commit(s) break the commit metadata rules",
                            seen=denied, required=required, fix=self._fix())

    def _required(self, facts: Facts) -> str:
        parts = []
        if self.params.message is not None:
            parts.append(f"its message matches {self.params.message}")
        if self.params.author_email is not None:
            parts.append(f"its author e-mail matches {self.params.author_email}")
        if self.params.committer_email is not None:
            parts.append(f"its committer e-mail matches {self.params.committer_email}")
        if self.params.committer_is_pusher:
            parts.append(f"its committer is the pusher ({show(facts.actor.name) or 'unknown'})")
        return "every new commit: " + ", ".join(parts) + " (RE2 patterns, found anywhere unless anchored)"

    def _fix(self) -> str:
        fix = ("reword or re-author the commits (git rebase -i BASE with reword or edit; git commit --amend "
               "--reset-author after setting git config user.email) and push again")
        if self.params.committer_is_pusher:
            fix += ("; commits someone else made must be pushed by them, or the administrator maps your addresses "
                    "to your user name in the policy's trust.identities")
        return fix


class _Pusher:
    """Whether a commit's committer is the pusher: by trust.identities when the policy names it."""

    def __init__(self, facts: Facts) -> None:
        from engine.identities import normalise

        self.name = facts.actor.name
        self.identities = facts.identities()
        self.people = self.identities.lookup(self.name, "users") if self.identities and self.name else []
        self._normal = normalise(self.name) if self.name else ""

    def why_not(self, commit: Commit) -> list[str]:
        from engine.identities import normalise

        email = commit.committer_email
        if not self.name:
            return ["the pusher is not known (no server user name), so the committer cannot be shown to be the pusher"]
        if self.identities is None:
            if self._normal and normalise(email) == self._normal:
                return []
            return [f"committed by <{show(email)}>, and the policy names no trust.identities to tell whether user "
                    f"{show(self.name)} is that person (only a user name equal to the address counts without it)"]
        if not self.people:
            return [f"the pusher {show(self.name)} is not among the users of {self.identities.source}"]
        if any(person in self.people for person in self.identities.lookup(email, "emails")):
            return []
        return [f"committed by <{show(email)}>, which {self.identities.source} does not list for the pusher "
                f"{show(self.name)}"]
