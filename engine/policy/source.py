"""Where the judging policy comes from: an administrator's file, or a file in a protected ref.

With a ref, the policy is read from the ref's *current* value (in pre-receive:
before the push), never from the pushed commits: a change cannot weaken the
policy that judges it. A file given as well serves while the ref lacks a policy.
"""

from __future__ import annotations

import os

from engine.git import Git
from engine.policy import PolicyError, Problem

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import NamedTuple
else:
    from engine.lighttuple import NamedTuple  # typing.NamedTuple without importing typing


class PolicySource(NamedTuple):
    data: bytes
    name: str  # shown in messages: a path, or REF:PATH
    ref: str | None = None  # the protected ref it was read from; None for an administrator's file
    commit: str | None = None  # the object that ref held when the policy was read

    def trusted_file(self, git: Git, path: str) -> bytes | None:
        """A file from the policy's own trust domain (allowed_signers, alerting rules): from the
        protected ref's value the policy was read from, or beside the administrator's file; never
        from the change."""
        if self.commit is not None:
            found = git.blob_with_id(f"{self.commit}:{path}")
            return found[1] if found else None
        try:
            with open(os.path.join(os.path.dirname(os.path.abspath(self.name)), path), "rb") as f:
                return f.read()
        except OSError:
            return None


def split_ref_spec(spec: str) -> tuple[str, str]:
    """REF:PATH with REF a full ref name (refs/...): a short name would be resolved by guessing."""
    ref, sep, path = spec.partition(":")
    if not sep or not ref.startswith("refs/") or not path:
        raise ValueError(f"{spec!r} is not REF:PATH with a full ref name, e.g. refs/heads/main:.changegate/policy.yml")
    return ref, path


def from_file(path: str) -> PolicySource:
    """The file's bytes; past the size limit only enough to say so (never all of /dev/zero)."""
    from engine.policy.limits import MAX_BYTES

    try:
        with open(path, "rb") as f:
            return PolicySource(f.read(MAX_BYTES + 1), path)
    except OSError as exc:
        raise PolicyError([Problem(path, 0, 0, f"cannot read the policy: {exc.strerror}")]) from None


def resolve(git: Git, *, file: str | None, ref_spec: str | None) -> PolicySource:
    if ref_spec:
        ref, path = split_ref_spec(ref_spec)
        commit = git.ref(ref)  # by its full name: a missing ref is missing, not guessed
        found = git.blob_with_id(f"{commit}:{path}") if commit else None
        if commit and found is not None:
            return PolicySource(found[1], ref_spec, ref, commit)
        if not file:
            raise PolicyError([Problem(ref_spec, 0, 0,
                                       f"no policy at {path} in {ref} (the ref or the file is missing); "
                                       "install the hook with --policy FILE as a fallback")])
    if file:
        return from_file(file)
    raise PolicyError([Problem("(none)", 0, 0, "no policy configured: give --policy FILE or --policy-ref REF:PATH")])
