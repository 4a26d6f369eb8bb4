"""in-toto Statement v1: build, validate, parse.

Spec: https://github.com/in-toto/attestation/blob/main/spec/v1/statement.md (and
resource_descriptor.md, digest_set.md, field_types.md beside it). Every rule checked here
cites a MUST of that text; unrecognised fields are ignored as its parsing rules require,
so they are dropped when a statement is parsed.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from engine.attest.errors import AttestError
from engine.attest.jsonio import canonical_json, strict_loads

STATEMENT_TYPE = "https://in-toto.io/Statement/v1"

# Standard algorithms: lowercase hex of a known length (digest_set.md). Others are
# allowed (consumers MUST ignore unrecognised algorithms) if the value is a string.
_HEX_LENGTHS: Mapping[str, tuple[int, ...]] = {
    "sha1": (40,), "md5": (32,), "ripemd160": (40,), "sm3": (64,),
    "sha224": (56,), "sha256": (64,), "sha384": (96,), "sha512": (128,),
    "sha512_224": (56,), "sha512_256": (64,),
    "sha3_224": (56,), "sha3_256": (64,), "sha3_384": (96,), "sha3_512": (128,),
    "dirHash": (64,),
    "gitCommit": (40, 64), "gitTree": (40, 64), "gitBlob": (40, 64), "gitTag": (40, 64),
}
_HEX_ANY_LENGTH = frozenset({"shake128", "shake256", "blake2b", "blake2s", "gost"})
_LOWER_HEX = re.compile(r"[0-9a-f]+")
_URI_SCHEME = re.compile(r"[a-z][a-z0-9+.\-]*:")
_OPTIONAL_STRINGS = ("name", "uri", "content", "downloadLocation", "mediaType")


class StatementError(AttestError):
    """A statement that breaks the in-toto v1 rules; `errors` lists every broken rule."""

    def __init__(self, errors: list[str]) -> None:
        self.errors = tuple(errors)
        super().__init__(
            "invalid in-toto Statement v1: " + "; ".join(errors)
            + " (see https://github.com/in-toto/attestation/blob/main/spec/v1/statement.md)"
        )


@dataclass(frozen=True)
class Subject:
    """One artifact the statement is about; `name` "" means unset."""

    name: str
    digest: Mapping[str, str]

    def __post_init__(self) -> None:
        object.__setattr__(self, "digest", MappingProxyType(dict(self.digest)))

    @classmethod
    def git_tree(cls, tree_oid: str, name: str = "") -> Subject:
        """A git tree: survives squash, merge and rebase, unlike a commit id."""
        return cls(name, {"gitTree": tree_oid})

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"digest": dict(self.digest)}
        if self.name:
            out["name"] = self.name
        return out


@dataclass(frozen=True)
class Statement:
    """A valid in-toto Statement v1; constructing an invalid one raises StatementError."""

    subjects: tuple[Subject, ...]
    predicate_type: str
    predicate: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "subjects", tuple(self.subjects))
        errors = statement_errors(self.to_dict())
        if not errors:
            try:
                canonical_json(self.predicate)
            except (TypeError, ValueError) as exc:
                errors = [f"predicate is not JSON: {exc}"]
        if errors:
            raise StatementError(errors)

    def to_dict(self) -> dict[str, Any]:
        return {
            "_type": STATEMENT_TYPE,
            "subject": [s.to_dict() for s in self.subjects],
            "predicateType": self.predicate_type,
            "predicate": self.predicate if isinstance(self.predicate, dict) else dict(self.predicate),
        }

    def to_json(self) -> bytes:
        """The canonical bytes that get signed."""
        return canonical_json(self.to_dict())

    def digests(self, algorithm: str) -> tuple[str, ...]:
        """Every subject digest of one algorithm, e.g. digests("gitTree")."""
        return tuple(s.digest[algorithm] for s in self.subjects if algorithm in s.digest)


def parse_statement(data: bytes | str | Mapping[str, Any]) -> Statement:
    """Parse JSON (or an already-decoded object) into a Statement, or raise StatementError."""
    if isinstance(data, (bytes, str)):
        try:
            data = strict_loads(data)
        except ValueError as exc:
            raise StatementError([f"payload is {exc}"]) from None
    errors = statement_errors(data)
    if errors:
        raise StatementError(errors)
    assert isinstance(data, Mapping)
    subjects = tuple(Subject(s.get("name", ""), s["digest"]) for s in data["subject"])
    return Statement(subjects, data["predicateType"], data.get("predicate", {}))


def statement_errors(value: object) -> list[str]:
    """Every in-toto v1 rule `value` (a decoded JSON value) breaks; empty when valid."""
    if not isinstance(value, Mapping):
        return [f"the statement must be a JSON object, not {_kind(value)}"]
    errors: list[str] = []
    kind = value.get("_type")
    if kind != STATEMENT_TYPE:
        seen = "missing" if kind is None else f"{kind!r}"
        errors.append(f'"_type" is {seen}; it must be {STATEMENT_TYPE!r}')
    subjects = value.get("subject")
    if not isinstance(subjects, list):
        seen = "missing" if subjects is None else _kind(subjects)
        errors.append(f'"subject" is {seen}; it must be a list of resource descriptors')
    elif not subjects:
        errors.append('"subject" is empty; at least one subject is required')
    else:
        for i, subject in enumerate(subjects):
            errors.extend(_subject_errors(f"subject[{i}]", subject))
    predicate_type = value.get("predicateType")
    if not isinstance(predicate_type, str):
        seen = "missing" if predicate_type is None else _kind(predicate_type)
        errors.append(f'"predicateType" is {seen}; it must be a type URI string')
    elif not _is_type_uri(predicate_type):
        errors.append(
            f'"predicateType" {predicate_type!r} is not a URI with a lowercase scheme and authority'
        )
    if "predicate" in value and not isinstance(value["predicate"], Mapping):
        errors.append(f'"predicate" must be a JSON object, not {_kind(value["predicate"])}')
    return errors


def _subject_errors(where: str, subject: object) -> list[str]:
    if not isinstance(subject, Mapping):
        return [f"{where} must be a JSON object, not {_kind(subject)}"]
    errors = [
        f"{where}.{key} must be a string, not {_kind(subject[key])}"
        for key in _OPTIONAL_STRINGS
        if key in subject and not isinstance(subject[key], str)
    ]
    if "annotations" in subject and not isinstance(subject["annotations"], Mapping):
        errors.append(f"{where}.annotations must be a JSON object")
    digest = subject.get("digest")
    if not isinstance(digest, Mapping) or not digest:
        seen = "missing" if digest is None else ("empty" if digest == {} else _kind(digest))
        errors.append(f"{where}.digest is {seen}; every subject needs at least one digest")
        return errors
    for algorithm, value in digest.items():
        errors.extend(_digest_errors(f"{where}.digest.{algorithm}", algorithm, value))
    return errors


def _digest_errors(where: str, algorithm: str, value: object) -> list[str]:
    if not algorithm:
        return [f"{where}: the algorithm name is empty"]
    if not isinstance(value, str) or not value:
        return [f"{where} must be a non-empty string"]
    lengths = _HEX_LENGTHS.get(algorithm)
    if lengths is None and algorithm not in _HEX_ANY_LENGTH:
        return []
    if not _LOWER_HEX.fullmatch(value):
        return [f"{where} must be lowercase hex, got {value!r}"]
    if lengths is not None and len(value) not in lengths:
        want = " or ".join(str(n) for n in lengths)
        return [f"{where} must be {want} hex digits, got {len(value)}"]
    return []


def _is_type_uri(text: str) -> bool:
    """RFC 3986 URI, case-normalised: scheme and authority in lowercase (field_types.md)."""
    scheme = _URI_SCHEME.match(text)
    if scheme is None or any(c.isspace() for c in text) or len(text) == scheme.end():
        return False
    rest = text[scheme.end():]
    if rest.startswith("//"):
        authority = re.split(r"[/?#]", rest[2:], maxsplit=1)[0]
        return bool(authority) and authority == authority.lower()
    return True


def _kind(value: object) -> str:
    names = {dict: "an object", list: "a list", str: "a string", bool: "a boolean",
             int: "a number", float: "a number", type(None): "null"}
    return names.get(type(value), type(value).__name__)
