"""OpenSSH allowed_signers: who may sign, with which key, for what, and when.

Format (`man ssh-keygen`, ALLOWED SIGNERS): `principals [options] keytype base64 [comment]`.
Semantics follow OpenSSH 9.x's sshsig.c so that a file means here what it means to
`ssh-keygen -Y verify`: principals and namespaces are pattern-lists (`*`, `?`, `!negation`),
option names are case-insensitive, option values must be double-quoted, times are
YYYYMMDD[HHMM[SS]] with an optional Z/UTC suffix (local time without it, read as OpenSSH
reads it), valid-after and valid-before are both inclusive.

Where we differ, on purpose, and say so:
- a malformed line fails the whole file with its line number (OpenSSH stops at it only
  when a lookup reaches it): a trust file with a typo should be fixed, not half-read;
- calendar-impossible dates (20240231) are errors (OpenSSH's mktime rolls them over);
- `cert-authority` lines and keys other than ssh-ed25519 are skipped with a reason: our
  DSSE envelopes carry a bare ed25519 key, never an SSH certificate, so OpenSSH itself would
  never match such a line against them.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import re
from dataclasses import dataclass
from pathlib import Path

from engine.attest.errors import AttestError, Reason
from engine.attest.sshkeys import ED25519, PublicKey, read_ssh_strings
from engine.attest.sshsyntax import epoch_seconds, match_pattern_list, parse_ssh_time, show_time

_BASE_KEY_TYPES = (
    "ssh-ed25519", "ssh-rsa", "ssh-dss", "ecdsa-sha2-nistp256", "ecdsa-sha2-nistp384",
    "ecdsa-sha2-nistp521", "sk-ssh-ed25519@openssh.com", "sk-ecdsa-sha2-nistp256@openssh.com",
    "ssh-xmss@openssh.com",
)
KNOWN_KEY_TYPES = frozenset(
    _BASE_KEY_TYPES
    + tuple(t.split("@")[0] + "-cert-v01@openssh.com" for t in _BASE_KEY_TYPES)
)
_WS = " \t\r\n"


class AllowedSignersError(AttestError):
    """An allowed_signers file that cannot be read; `errors` holds (line, message) pairs."""

    def __init__(self, source: str, errors: list[tuple[int, str]]) -> None:
        self.errors = tuple(errors)
        lines = "; ".join(f"{source}:{n}: {msg}" for n, msg in errors)
        super().__init__(f"{lines} (format: `man ssh-keygen`, section ALLOWED SIGNERS)")


def _at(seconds: int) -> str:
    return f"and the time is {show_time(seconds)}"


@dataclass(frozen=True)
class SignerEntry:
    """One usable line: an ed25519 key and the limits OpenSSH would put on it."""

    line: int
    principals: str  # the pattern-list as written, unquoted
    key: PublicKey
    namespaces: str | None = None  # pattern-list; None means any namespace
    valid_after: int | None = None  # epoch seconds, inclusive
    valid_before: int | None = None  # epoch seconds, inclusive

    def refusal(
        self, *, principal: str | None, namespace: str | None, now: int
    ) -> tuple[Reason, str] | None:
        """Why this line does not authorise a signature (OpenSSH's order of checks), or None."""
        where = f"line {self.line} ({self.principals})"
        if principal is not None and match_pattern_list(principal, self.principals) != 1:
            return Reason.PRINCIPAL_NOT_ALLOWED, f"{where} does not list principal {principal!r}"
        if (namespace is not None and self.namespaces is not None
                and match_pattern_list(namespace, self.namespaces) != 1):
            return (Reason.NAMESPACE_NOT_ALLOWED,
                    f"{where} allows namespaces {self.namespaces!r}, not {namespace!r}")
        if self.valid_after is not None and now < self.valid_after:
            shown = show_time(self.valid_after)
            return Reason.KEY_NOT_YET_VALID, f"{where} is valid only from {shown}, {_at(now)}"
        if self.valid_before is not None and now > self.valid_before:
            shown = show_time(self.valid_before)
            return Reason.KEY_EXPIRED, f"{where} expired at {shown}, {_at(now)}"
        return None


@dataclass(frozen=True)
class SkippedLine:
    """A well-formed line this verifier cannot use, and why (shown when its key signs)."""

    line: int
    reason: str
    fingerprint: str


@dataclass(frozen=True)
class AllowedSigners:
    """A parsed allowed_signers file."""

    entries: tuple[SignerEntry, ...]
    skipped: tuple[SkippedLine, ...] = ()
    source: str = "allowed_signers"

    def entries_for(self, key: PublicKey) -> tuple[SignerEntry, ...]:
        return tuple(e for e in self.entries if e.key == key)

    def signing_keys(self) -> tuple[PublicKey, ...]:
        """Distinct usable keys, in file order."""
        return tuple(dict.fromkeys(e.key for e in self.entries))

    def authorizes(
        self, key: PublicKey, *, principal: str | None, namespace: str | None, now: dt.datetime
    ) -> bool:
        """What `ssh-keygen -Y verify -I principal -n namespace` decides for this key."""
        seconds = epoch_seconds(now)
        return any(
            e.refusal(principal=principal, namespace=namespace, now=seconds) is None
            for e in self.entries_for(key)
        )

    def find_principals(self, key: PublicKey, *, now: dt.datetime) -> tuple[str, ...]:
        """What `ssh-keygen -Y find-principals` prints, one per line: the principals of the
        first line for this key that is valid now (namespaces are not considered)."""
        seconds = epoch_seconds(now)
        for entry in self.entries_for(key):
            if entry.refusal(principal=None, namespace=None, now=seconds) is None:
                return tuple(entry.principals.split(","))
        return ()


def load_allowed_signers(path: str | Path) -> AllowedSigners:
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise AttestError(f"cannot read allowed_signers file {path}: {exc}") from None
    return parse_allowed_signers(text, source=str(path))


def parse_allowed_signers(text: str, *, source: str = "allowed_signers") -> AllowedSigners:
    """Parse the whole file; AllowedSignersError lists every malformed line."""
    entries: list[SignerEntry] = []
    skipped: list[SkippedLine] = []
    errors: list[tuple[int, str]] = []
    for number, raw in enumerate(text.splitlines(), start=1):
        try:
            parsed = _parse_line(number, raw)
        except ValueError as exc:
            errors.append((number, str(exc)))
            continue
        if isinstance(parsed, SignerEntry):
            entries.append(parsed)
        elif isinstance(parsed, SkippedLine):
            skipped.append(parsed)
    if errors:
        raise AllowedSignersError(source, errors)
    return AllowedSigners(tuple(entries), tuple(skipped), source)


def _parse_line(number: int, raw: str) -> SignerEntry | SkippedLine | None:
    line = raw.lstrip(_WS)
    if not line or line.startswith("#"):
        return None
    principals, rest = _split_principals(line)
    first = _first_token(rest)
    options = ""
    if first not in KNOWN_KEY_TYPES:
        options, rest = _split_options(rest)
    key_type, *tail = re.split(r"[ \t]+", rest, maxsplit=2)
    try:
        ca, namespaces, after, before = _parse_options(options)
    except ValueError:
        if key_type in KNOWN_KEY_TYPES:
            raise
        raise ValueError(f"{first!r} is neither a known key type nor options") from None
    if key_type not in KNOWN_KEY_TYPES:
        raise ValueError(f"unknown key type {key_type!r}")
    if not tail or not tail[0]:
        raise ValueError(f"the {key_type} key data is missing")
    blob = _decode_key(key_type, tail[0])
    key = PublicKey(key_type, blob)
    if ca:
        return SkippedLine(number, "cert-authority lines trust SSH certificates, which DSSE "
                           "envelopes never carry; list the signer's own key instead",
                           key.fingerprint)
    if key_type != ED25519:
        return SkippedLine(number, f"{key_type} keys are not accepted: changegate verifies "
                           f"{ED25519} signatures only", key.fingerprint)
    return SignerEntry(number, principals, key, namespaces, after, before)


def _first_token(text: str) -> str:
    return re.split(r"[ \t]", text, maxsplit=1)[0]


def _split_principals(line: str) -> tuple[str, str]:
    """OpenSSH strdelimw: a token ends at whitespace; a double quote opens a quoted run."""
    cut = next((i for i, c in enumerate(line) if c in _WS or c == '"'), None)
    if cut is None:
        raise ValueError("only principals on this line: the key is missing")
    if line[cut] == '"':
        close = line.find('"', cut + 1)
        if close < 0:
            raise ValueError("unterminated quote in principals")
        return line[:cut] + line[cut + 1:close], line[close + 1:].lstrip(_WS)
    return line[:cut], line[cut:].lstrip(_WS)


def _split_options(text: str) -> tuple[str, str]:
    """OpenSSH sshkey_advance_past_options: options end at the first unquoted blank."""
    quoted, i = False, 0
    while i < len(text) and (quoted or text[i] not in " \t"):
        if text[i] == "\\" and text[i + 1:i + 2] == '"':
            i += 1
        elif text[i] == '"':
            quoted = not quoted
        i += 1
    if quoted:
        raise ValueError("unterminated quote in options")
    rest = text[i:].lstrip(" \t")
    if not rest:
        raise ValueError("the key is missing")
    return text[:i], rest


def _decode_key(key_type: str, blob_text: str) -> bytes:
    try:
        blob = base64.b64decode(blob_text, validate=True)
        parts = read_ssh_strings(blob)
    except (binascii.Error, ValueError):
        raise ValueError(f"the {key_type} key is not valid base64 key data") from None
    if not parts or parts[0] != key_type.encode():
        raise ValueError(f"the key data is not a {key_type} key")
    if key_type == ED25519 and (len(parts) != 2 or len(parts[1]) != 32):
        raise ValueError("the ssh-ed25519 key data is malformed")
    return blob


def _parse_options(opts: str) -> tuple[bool, str | None, int | None, int | None]:
    """OpenSSH sshsigopt_parse: cert-authority, namespaces=, valid-after=, valid-before=."""
    ca, values = False, {}
    i = 0
    while i < len(opts):
        lower = opts[i:].lower()
        if lower.startswith("cert-authority"):
            ca, i = True, i + len("cert-authority")
        else:
            name = next((n for n in ("namespaces", "valid-after", "valid-before")
                         if lower.startswith(n + "=")), None)
            if name is None:
                raise ValueError(f"unknown option {opts[i:].split(',')[0]!r} (known: "
                                 "cert-authority, namespaces, valid-after, valid-before)")
            if name in values:
                raise ValueError(f'multiple "{name}" clauses')
            values[name], i = _dequote(opts, i + len(name) + 1, name)
        if i == len(opts):
            break
        if opts[i] != ",":
            raise ValueError(f"unknown option text {opts[i:]!r}")
        i += 1
        if i == len(opts):
            raise ValueError("options end with a comma")
    times: dict[str, int] = {}
    for name in ("valid-after", "valid-before"):
        if name in values:
            try:
                times[name] = parse_ssh_time(values[name])
            except ValueError as exc:
                raise ValueError(f'invalid "{name}" time {values[name]!r}: {exc}') from None
            if times[name] == 0:
                raise ValueError(f'invalid "{name}" time {values[name]!r}')
    after, before = times.get("valid-after"), times.get("valid-before")
    if after is not None and before is not None and before <= after:
        raise ValueError('"valid-before" time is before "valid-after"')
    return ca, values.get("namespaces"), after, before


def _dequote(opts: str, i: int, name: str) -> tuple[str, int]:
    """OpenSSH opt_dequote: the value must be in double quotes; \\" is a literal quote."""
    if opts[i:i + 1] != '"':
        raise ValueError(f'the value of "{name}" must be in double quotes, e.g. {name}="..."')
    out, i = [], i + 1
    while i < len(opts) and opts[i] != '"':
        if opts[i] == "\\" and opts[i + 1:i + 2] == '"':
            i += 1
        out.append(opts[i])
        i += 1
    if i == len(opts):
        raise ValueError(f'missing end quote in "{name}"')
    return "".join(out), i + 1

