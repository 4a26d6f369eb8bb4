"""`require: {approvals: {count, from, exclude_author, invalidate_on_push, notify}}`.

The source is GitHub when a pull request is being judged (`policy check --github-pr`, or
a GitHub Enterprise Server merge button with `sources.github` configured), otherwise the
signed approval records in `refs/notes/changegate/approvals` (engine.facts.approvals
reads both). Both are judged by the same rules (engine.approvals.tally). Several
approvals rules may apply at once (one per path scope, say): each must be satisfied on
its own.
"""

from __future__ import annotations

from dataclasses import dataclass

from engine import approvals as ap
from engine.change import RefUpdate
from engine.decision import Notice, Outcome
from engine.facts.approvals import (
    PullFacts,
    github_eligibility,
    github_owned,
    github_votes,
    signed_candidates,
    signed_votes,
    signer_eligibility,
)
from engine.facts.interface import TrustError
from engine.identities import Identity, Owners, normalise
from engine.notes import NOTES_REFS
from engine.rules.base import Rule, short

TYPE_CHECKING = False
if TYPE_CHECKING:
    from engine.attest import AllowedSigners
    from engine.facts.interface import Facts


@dataclass(frozen=True)
class ApprovalsParams:  # a dataclass: a NamedTuple field may not be called `count`
    count: int
    from_: dict[str, list[str]] | None = None  # users, teams, signers
    exclude_author: bool = True
    invalidate_on_push: bool = True
    notify: dict[str, str] | None = None  # {webhook: URL}


class RequireApprovals(Rule):
    kind = "require.approvals"
    Params = ApprovalsParams
    params: ApprovalsParams

    @classmethod
    def needs_trust(cls, params: ApprovalsParams) -> bool:
        return "signers" in (params.from_ or {})

    def evaluate(self, facts: Facts, updates: list[RefUpdate]) -> Outcome:
        requirement = ap.Requirement.from_params(self.params)
        judged = [u for u in updates if u.kind != "deletion" and not u.ref.startswith(ap.NOTES_PREFIX)]
        if not judged:
            return self.outcome("skip", "only deletions or notes refs are updated: there is no content to approve")
        source = facts.github_approvals()
        if source is not None:
            return self._github(facts, judged, requirement)
        return self._signed(facts, judged, requirement)

    # --- signed records ---

    def _signed(self, facts: Facts, updates: list[RefUpdate], requirement: ap.Requirement) -> Outcome:
        try:
            allowed: AllowedSigners | None = facts.allowed_signers()
        except TrustError as exc:
            if requirement.signers or facts.policy.get("trust"):
                return self.outcome("error", f"signed approvals cannot be checked: {exc}",
                                    fix="an administrator must fix trust.allowed_signers in the policy")
            allowed = None
        eligible = signer_eligibility(requirement)
        seen: list[str] = []
        short_of: list[tuple[RefUpdate, ap.Tally, Owners]] = []
        for update in updates:
            try:
                owners = self._owners(facts, update)
            except TrustError as exc:
                return self._no_identities(exc)
            if allowed is None:
                votes: list[ap.Vote] = []
                rejected = [ap.Rejected("no-trust", "the policy names no trust.allowed_signers file, so no "
                                                    "signed approval can be verified")]
            else:
                votes, rejected = signed_votes(facts, update, self.refs, requirement, allowed)
            result = ap.tally(requirement, votes, rejected, owners=owners, eligible=eligible,
                              judged=f"tree {short(facts.tree(update.new))} of {short(update.new)}")
            seen += self._lines(update, result, len(updates))
            if not result.satisfied:
                short_of.append((update, result, owners))
        if not short_of:
            return self._passed(updates, seen, requirement)
        update, result, owners = short_of[0]
        candidates = signed_candidates(requirement, allowed, owners=owners, done=[v.who for v in result.valid])
        ref = update.name
        fix = (f"an eligible approver ({_names(candidates)}) runs: policy approve {short(update.new)} "
               f"--key ~/.ssh/id_ed25519 --ref {ref} && git push origin {NOTES_REFS['approvals']}; "
               "then push again")
        if result.vetoes:
            fix = (f"address the requested changes; {', '.join(v.who for v in result.vetoes)} lifts the veto "
                   f"with a later approval (policy approve REV --key KEY --ref {ref}). " + fix)
        return self._failed(facts, short_of, seen, requirement, candidates, fix)

    def _owners(self, facts: Facts, update: RefUpdate) -> Owners:
        """The pusher and every author and committer of the commits judged, mapped to people."""
        actor = facts.actor
        owned = [Identity("user", actor.name, f"the pusher's user name ({actor.server} {actor.source})")]
        for commit in facts.commits_for(update, self.refs):
            where = f"of commit {short(commit.oid)}"
            owned += [Identity("email", commit.author_email, f"the author e-mail {where}"),
                      Identity("name", commit.author_name, f"the author name {where}"),
                      Identity("email", commit.committer_email, f"the committer e-mail {where}"),
                      Identity("name", commit.committer_name, f"the committer name {where}")]
        return Owners(owned, facts.identities(), pusher=actor.name)

    def _no_identities(self, exc: TrustError) -> Outcome:
        return self.outcome("error", f"who is who cannot be read, so self-approval cannot be excluded: {exc}",
                            fix="an administrator must fix the file the policy's trust.identities names "
                                "(policy validate checks it beside a policy file)")

    # --- GitHub ---

    def _github(self, facts: Facts, updates: list[RefUpdate], requirement: ap.Requirement) -> Outcome:
        from engine.facts.github_client import GitHubError

        found = facts.pull_request()
        if found.error is not None:
            return self._github_error(found, found.error)
        assert found.pull is not None
        pull = found.pull
        base = f"refs/heads/{pull.base_ref}"
        if any(u.name != base for u in updates):
            others = ", ".join(u.name for u in updates if u.name != base)
            return self.outcome("error", f"{found.slug} merges into {base}, but {others} is judged",
                                fix=f"run policy check with --ref {base}")
        actor = facts.actor
        try:
            owners = Owners([*github_owned(found), Identity("user", actor.name, f"the actor ({actor.source})")],
                            facts.identities(), pusher=actor.name)
        except TrustError as exc:
            return self._no_identities(exc)
        try:
            result = ap.tally(requirement, github_votes(found, requirement), [], owners=owners,
                              eligible=github_eligibility(found, requirement),
                              judged=f"head {short(pull.head_sha)}")
        except GitHubError as exc:
            return self._github_error(found, exc)
        seen = [f"{found.slug}: {found.files} changed file(s), head {short(pull.head_sha)}, "
                f"author {pull.author or 'unknown'}", *self._lines(updates[0], result, 1)]
        if result.satisfied:
            return self._passed(updates, seen, requirement, on="the pull request's head")
        done = {normalise(v.who) for v in result.valid}
        candidates = [u for u in requirement.users if owners.match(u) is None and normalise(u) not in done]
        candidates += [f"members of {t}" for t in requirement.teams]
        if not requirement.users and not requirement.teams:
            candidates = ["any reviewer other than the author"]
        fix = (f"ask {_names(candidates)} to approve {found.slug} at head {short(pull.head_sha)}")
        if result.vetoes:
            fix = (f"address the changes {', '.join(v.who for v in result.vetoes)} requested, then have them "
                   "approve or a maintainer dismiss the review; " + fix)
        return self._failed(facts, [(updates[0], result, owners)], seen, requirement, candidates, fix,
                            pr=found.slug, head=pull.head_sha, on="the pull request's head")

    def _github_error(self, found: PullFacts, exc: Exception) -> Outcome:
        kind = getattr(exc, "kind", "usage")
        fixes = {
            "too_many_files": "split the pull request: past 3,000 files GitHub cannot list every path",
            "team_unreadable": "give the policy's token read:org (or a GitHub App with Members: read), "
                               "or list the approvers under from.users",
            "rate_limited": "wait for the rate limit to reset and run the check again, or use a token "
                            "with a higher limit (a GitHub App)",
            "no_token": "set the token variable named by sources.github.token_env (default GITHUB_TOKEN)",
            "bad_token": "set a valid token in the variable named by sources.github.token_env",
            "forbidden": "give the token read access to pull requests of this repository",
            "not_found": "check OWNER/REPO#NUMBER and that the token can see the repository",
        }
        where = found.slug or "the pull request"
        return self.outcome("error", f"approvals of {where} cannot be read, so they count as missing "
                                     f"(fail closed): {exc}",
                            required="every review and changed file of the pull request, readable",
                            fix=fixes.get(kind, "retry; if it persists, check sources.github in the policy"))

    # --- shared ---

    def _lines(self, update: RefUpdate, result: ap.Tally, updates: int) -> list[str]:
        lines = result.seen()
        if updates > 1:
            lines = [f"{update.name}: {line}" for line in lines]
        return lines

    def _passed(self, updates: list[RefUpdate], seen: list[str], requirement: ap.Requirement, *,
                on: str = "the exact tree judged") -> Outcome:
        refs = ", ".join(u.name for u in updates)
        return self.outcome("pass", f"{requirement.count} or more valid approval(s) on {refs}", seen=seen,
                            required=requirement.describe(on=on))

    def _failed(self, facts: Facts, short_of: list[tuple[RefUpdate, ap.Tally, Owners]], seen: list[str],
                requirement: ap.Requirement, candidates: list[str], fix: str, *, pr: str = "",
                head: str = "", on: str = "the exact tree judged") -> Outcome:
        parts = []
        for update, result, _ in short_of:
            if result.vetoes:
                parts.append(f"{update.name}: changes requested by {', '.join(v.who for v in result.vetoes)}")
            if result.needed:
                parts.append(f"{update.name}: {len(result.valid)} valid approval(s) of {requirement.count}, "
                             f"{result.needed} more needed from {_names(candidates)}")
            ignored = len(result.ignored) + len(result.rejected)
            if ignored:
                parts[-1] += f" ({ignored} ignored)"
        message = "; ".join(parts)
        failed = self.outcome("fail", message, seen=seen, required=requirement.describe(on=on), fix=fix)
        if requirement.webhook and any(r.needed for _, r, _ in short_of):
            # sent by engine.report.sinks once the decision stands, never from inside the judgement
            update, result, _ = next(item for item in short_of if item[1].needed)
            failed = failed._replace(notice=Notice(requirement.webhook, {
                "event": "approvals_missing", "rule": self.id, "policy": facts.policy.get("name", ""),
                "ref": update.name, "commit": head or update.new, "pull_request": pr or None,
                "valid": [v.who for v in result.valid], "needed": result.needed, "required": requirement.count,
                "eligible_approvers": candidates, "vetoes": [v.who for v in result.vetoes],
                "message": message,
            }))
        return failed


def _names(candidates: list[str]) -> str:
    if not candidates:
        return "nobody eligible is left: widen from: in the policy"
    if len(candidates) > 8:
        return ", ".join(candidates[:8]) + f" and {len(candidates) - 8} more"
    return ", ".join(candidates)
