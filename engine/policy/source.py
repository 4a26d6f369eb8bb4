"""Where the judging policy comes from: an administrator's file, or a file in a protected ref.

With a ref, the policy is read from the ref's *current* value (in pre-receive:
before the push), never from the pushed commits: a change cannot weaken the
policy that judges it. A file given as well serves while the ref lacks a policy.
"""

from __future__ import annotations

from typing import NamedTuple

from engine.git import Git
from engine.policy import PolicyError, Problem


class PolicySource(NamedTuple):
    data: bytes
    name: str  # shown in messages: a path, or REF:PATH


def split_ref_spec(spec: str) -> tuple[str, str]:
    ref, sep, path = spec.partition(":")
    if not sep or not ref.startswith("refs/") or not path:
        raise ValueError(f"{spec!r} is not REF:PATH, e.g. refs/heads/main:.changegate/policy.yml")
    return ref, path


def from_file(path: str) -> PolicySource:
    try:
        with open(path, "rb") as f:
            return PolicySource(f.read(), path)
    except OSError as exc:
        raise PolicyError([Problem(path, 0, 0, f"cannot read the policy: {exc.strerror}")]) from None


def resolve(git: Git, *, file: str | None, ref_spec: str | None) -> PolicySource:
    if ref_spec:
        ref, path = split_ref_spec(ref_spec)
        data = git.blob(ref, path)
        if data is not None:
            return PolicySource(data, ref_spec)
        if not file:
            raise PolicyError([Problem(ref_spec, 0, 0,
                                       f"no policy at {path} in {ref} (the ref or the file is missing); "
                                       "install the hook with --policy FILE as a fallback")])
    if file:
        return from_file(file)
    raise PolicyError([Problem("(none)", 0, 0, "no policy configured: give --policy FILE or --policy-ref REF:PATH")])
