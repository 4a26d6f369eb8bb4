"""Plain typed data describing a change: what a push, PR or deploy asks to do.

NamedTuples rather than dataclasses, and `typing` only for the type checker: this
module is on the push-hook path (see engine/lighttuple.py for the cost of each).
"""

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Mapping
    from typing import Literal, NamedTuple

    Stage = Literal["push", "merge", "deploy"]
    UpdateKind = Literal["creation", "deletion", "update"]
else:
    from engine.lighttuple import NamedTuple  # typing.NamedTuple without importing typing

STAGES: tuple[Stage, ...] = ("push", "merge", "deploy")


def is_zero(oid: str) -> bool:
    """True for git's all-zero object id (SHA-1 or SHA-256), which means "no object"."""
    return bool(oid) and oid.strip("0") == ""


def show(raw: bytes | str) -> str:
    """Render a ref or path for a human, safely.

    Non-UTF-8 bytes become backslash escapes and control characters are escaped, so
    a path containing a newline cannot forge extra `remote:` lines on a terminal.
    """
    text = raw.decode("utf-8", "backslashreplace") if isinstance(raw, bytes) else raw
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)


def as_text(raw: bytes) -> str:
    """Bytes to str losslessly (surrogateescape), for pattern matching."""
    return raw.decode("utf-8", "surrogateescape")


class RefUpdate(NamedTuple):
    """One line of pre-receive input: `<old> <new> <ref>`."""

    old: str
    new: str
    ref: bytes

    @property
    def kind(self) -> UpdateKind:
        if is_zero(self.old):
            return "creation"
        if is_zero(self.new):
            return "deletion"
        return "update"

    @property
    def name(self) -> str:
        return show(self.ref)


class ChangedPath(NamedTuple):
    """A path a commit changed against its first parent (status A, M, D, T), with what it now holds:
    `oid` and `mode` as git's raw diff gives them (a blob, or a commit for a submodule, mode
    160000; all zeros for a deletion); "" where the source did not say. `old_oid`: what the path
    held in the first parent (all zeros for an addition), so content rules can tell added lines."""

    path: bytes
    status: str
    oid: str = ""
    mode: str = ""
    old_oid: str = ""


class Commit(NamedTuple):
    oid: str
    tree: str
    parents: tuple[str, ...]
    author_name: str
    author_email: str
    paths: tuple[ChangedPath, ...]
    committer_name: str = ""  # who made the commit object (exclude_author maps both to people)
    committer_email: str = ""


class Signature(NamedTuple):
    """A commit's signature as git verified it against the trust it was given (see SignatureTrust).

    `status` is git's own verdict (`%G?`): G good and trusted, U good but not trusted (an SSH
    key no allowed_signers line names), B bad, X expired signature, Y expired key, R revoked
    key, E cannot be checked (an unknown GPG key, a missing tool), N unsigned. `format` is what
    the commit's signature header holds: ssh, gpg, x509, or "" when unsigned (or unrecognised).
    """

    status: str
    format: str = ""
    signer: str = ""  # the allowed_signers principal (SSH) or the key's user id (GPG), when trusted
    key: str = ""  # the key's fingerprint (SSH: SHA256:...; GPG: the primary key's fingerprint)


class CommitDetails(NamedTuple):
    """What a commit holds beyond its paths, read only when a rule asks: its message and, when a
    rule asked with a SignatureTrust, its verified signature (None: not asked)."""

    message: str
    signature: Signature | None = None


class SignatureTrust(NamedTuple):
    """Whose commit signatures count: the contents of an OpenSSH allowed_signers file and of an
    exported GPG public keyring, both from the policy's trust domain (empty: no key of that kind)."""

    allowed_signers: bytes = b""
    gpg_keyring: bytes = b""


class Actor(NamedTuple):
    """Who is pushing, and how we know: the server kind and the variable it came from."""

    name: str
    server: str
    source: str


class Change(NamedTuple):
    """Everything an entry point knows before any fact is gathered."""

    updates: tuple[RefUpdate, ...]
    actor: Actor
    stage: Stage


class BypassRequest(NamedTuple):
    """A pusher's request to bypass rules (break-glass), as data: what they asked, never who they
    are (the actor comes from the server). Whether it is granted is engine.bypass's decision."""

    reason: str  # as given, unsanitised: engine.bypass neutralises it before anyone sees it
    via: str  # how it was asked: "push option changegate.bypass", "--bypass"
    problem: str = ""  # why the request itself is malformed (given twice), decided at the entry point


class Inputs(NamedTuple):
    """What an entry point knows beyond the ref updates: the clock and what a user handed in."""

    now: float  # seconds since the epoch; fixed once per decision so it can be reproduced
    evidence_files: tuple[str, ...] = ()  # evidence envelopes passed as files (CI artifacts)
    artifacts: tuple[str, ...] = ()  # files being deployed, checked against evidence digests
    github_pr: str | None = None  # OWNER/REPO#NUMBER whose reviews and files to read
    github_api: str | None = None  # the API root the runner names (GITHUB_API_URL), unless the policy sets one
    environ: Mapping[str, str] | None = None  # the entry point's environment, read once (None: empty)
    bypass: BypassRequest | None = None  # break-glass asked for (push option, --bypass); None: not asked


def parse_update_lines(data: bytes) -> tuple[RefUpdate, ...]:
    """Parse pre-receive stdin. Refnames are bytes and may hold any non-control byte."""
    updates = []
    for number, line in enumerate(data.split(b"\n"), start=1):
        if not line.strip():
            continue
        parts = line.rstrip(b"\r").split(b" ", 2)
        if len(parts) != 3 or not all(parts):
            raise ValueError(f"line {number}: expected '<old> <new> <ref>', got {show(line)!r}")
        old, new = parts[0].decode("ascii", "replace"), parts[1].decode("ascii", "replace")
        for oid in (old, new):
            if len(oid) not in (40, 64) or not all(c in "0123456789abcdef" for c in oid):
                raise ValueError(f"line {number}: {oid!r} is not a full object id")
        updates.append(RefUpdate(old, new, parts[2]))
    return tuple(updates)
