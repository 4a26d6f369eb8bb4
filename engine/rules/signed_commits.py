"""`require: {signed_commits: {formats: [ssh, gpg], gpg_keyring: PATH}}`: every new commit on
the matching refs carries a good signature by a trusted key.

Git itself verifies (`%G?`, as `git verify-commit` does), against the policy's trust alone:
SSH signatures through the policy's `trust.allowed_signers` (OpenSSH's format, given to git as
gpg.ssh.allowedSignersFile), GPG signatures through the exported public keyring the rule
names; both files come from the policy's trust domain (the protected ref, or beside the
administrator's policy file), never from the change, and no key of the server account counts.
Every commit is judged, not only the tip: a signed commit on top of unsigned ones is denied.
Anything that cannot be verified (a missing trust file, git or gpg failing, too many commits)
denies, and says why.
"""

from __future__ import annotations

from engine.change import Commit, RefUpdate, SignatureTrust, show
from engine.decision import Outcome
from engine.rules.base import Rule, short

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, NamedTuple

    from engine.change import Signature
    from engine.facts.interface import Facts
else:
    from engine.lighttuple import NamedTuple

# Verifying costs git two ssh-keygen runs (or one gpg run) per commit: ~11 ms (~6 ms) of CPU on a
# 2-core server (bench/signed_bench.py). Past this many commits in one push it denies rather than
# spend minutes; below it, the hook's time budget still bounds the wait.
MAX_COMMITS = 5000

_WHY = {
    "N": "its signature header holds nothing git can verify",
    "B": "bad signature: the commit does not match it (altered after signing, or forged)",
    "X": "the signature has expired",
    "Y": "signed by a key that has expired",
    "R": "signed by a revoked key",
}
_NAMES = {"ssh": "SSH", "gpg": "GPG", "x509": "X.509"}


class SignedCommitsParams(NamedTuple):
    formats: tuple[str, ...] | None = None  # None: ssh only
    gpg_keyring: str | None = None

    @property
    def accepted(self) -> tuple[str, ...]:
        return self.formats or ("ssh",)


class SignedCommits(Rule):
    kind = "require.signed_commits"
    Params = SignedCommitsParams
    params: SignedCommitsParams

    @classmethod
    def needs_trust(cls, params: Any) -> bool:
        """SSH signatures are trusted through trust.allowed_signers, so the policy must name one."""
        return "ssh" in params.accepted

    def evaluate(self, facts: Facts, updates: list[RefUpdate]) -> Outcome:
        formats = " or ".join(_NAMES[f] for f in self.params.accepted)
        required = f"every new commit is signed ({formats}) by a key the policy trusts"
        brought: dict[str, tuple[RefUpdate, Commit]] = {}
        trees: list[str] = []
        for u in updates:
            for commit in facts.commits_for(u, self.refs):
                if commit.oid == commit.tree:  # a ref that ends in a tree: no commit to carry a signature
                    trees.append(f"{u.name} points at tree {short(commit.oid)}, which cannot be signed")
                else:
                    brought.setdefault(commit.oid, (u, commit))
        if trees:
            return self.outcome("fail", f"{len(trees)} ref(s) point at a tree instead of a signed commit",
                                seen=trees, required=required, fix="push signed commits")
        if not brought:
            return self.outcome("pass", "no new commit to judge")
        if len(brought) > MAX_COMMITS:
            return self.outcome("fail", f"{len(brought):,} new commits: more than the {MAX_COMMITS:,} whose signatures "
                                        "one push may have verified (MAX_COMMITS)", required=required,
                                fix="push the history in parts of at most 5,000 commits")
        trust = self._trust(facts)
        if isinstance(trust, Outcome):
            return trust
        try:
            details = facts.commit_details(list(brought), trust)
        except Exception as exc:  # noqa: BLE001 - git, gpg or a temporary file failed: doubt denies
            return self.outcome("error", f"signatures could not be verified: {exc}", required=required,
                                fix="an administrator must check that git, ssh-keygen and gpg run on the server")
        denied: list[str] = []
        signers: dict[str, int] = {}
        for oid, (u, commit) in brought.items():
            found = details.get(oid)
            why = self._why_not(facts, found.signature if found else None)
            if why:
                denied.append(f"commit {short(oid)} on {u.name} by {show(commit.author_name)} "
                              f"<{show(commit.author_email)}>: {why}")
            else:
                assert found is not None and found.signature is not None
                signers[found.signature.signer] = signers.get(found.signature.signer, 0) + 1
        if not denied:
            by = ", ".join(f"{show(s)} ({n})" for s, n in signers.items())
            return self.outcome("pass", f"{len(brought)} new commit(s) signed by trusted keys: {by}")
        return self.outcome(
            "fail", f"{len(denied)} of {len(brought)} new commit(s) not signed by a trusted key", seen=denied,
            required=required,
            fix="sign every new commit (git config gpg.format ssh; git config user.signingkey KEY; then re-sign "
                "with git rebase --exec 'git commit --amend --no-edit -S' BASE) and push again; a key not yet "
                f"trusted must first be added to {self._trust_files(facts)} by an administrator")

    def _trust(self, facts: Facts) -> SignatureTrust | Outcome:
        """The trust files' contents, from the policy's trust domain; a missing one denies."""
        signers = keyring = b""
        missing = []
        if "ssh" in self.params.accepted:
            path = (facts.policy.get("trust") or {}).get("allowed_signers") or ""
            data = facts.trusted_file(path) if path else None
            if data is None:
                missing.append(f"the allowed signers file {facts.trusted_location(path) if path else '(none named)'}")
            signers = data or b""
        if "gpg" in self.params.accepted:
            path = self.params.gpg_keyring or ""
            data = facts.trusted_file(path) if path else None
            if not data:
                missing.append(f"the GPG keyring {facts.trusted_location(path) if path else '(none named)'}")
            keyring = data or b""
        if missing:
            return self.outcome("fail", f"signatures cannot be trusted: {' and '.join(missing)} does not exist "
                                        "or is empty", required="the trust files exist in the policy's trust domain",
                                fix="an administrator must add them to the protected ref (or beside the policy file)")
        return SignatureTrust(signers, keyring)

    def _why_not(self, facts: Facts, signature: Signature | None) -> str:
        """Why a commit's signature does not count ("" when it does)."""
        if signature is None:
            return "its signature could not be read (the commit is missing)"
        form, status, key = signature.format, signature.status, signature.key
        if not form:
            return "unsigned"
        if form not in self.params.accepted:
            accepted = ", ".join(self.params.accepted)
            return f"signed with {_NAMES.get(form, 'an unknown format')}, which this rule does not accept ({accepted})"
        if status in _WHY:
            return _WHY[status]
        if status == "G" and signature.signer:
            return ""
        if form == "ssh":
            return (f"signed by SSH key {show(key) or '(unknown)'}, which no line of "
                    f"{self._trust_files(facts, 'ssh')} trusts")
        if status == "E":
            return (f"signed by GPG key {show(key) or '(unknown)'}, which is not in the trusted keyring "
                    f"{self._trust_files(facts, 'gpg')}")
        return f"signature not trusted (git's verdict {status!r})"

    def _trust_files(self, facts: Facts, only: str = "") -> str:
        names = []
        if "ssh" in self.params.accepted and only in ("", "ssh"):
            names.append(facts.trusted_location((facts.policy.get("trust") or {}).get("allowed_signers") or ""))
        if "gpg" in self.params.accepted and only in ("", "gpg"):
            names.append(facts.trusted_location(self.params.gpg_keyring or ""))
        return " or ".join(names)
