"""in-toto Statement v1: what we build is valid to in-toto's own bindings, and what breaks
the spec is refused with a message naming the rule."""

from __future__ import annotations

import json
from typing import Any

import pytest
from google.protobuf import json_format
from in_toto_attestation.v1 import statement as ita_statement
from in_toto_attestation.v1 import statement_pb2

from engine.attest import STATEMENT_TYPE, Statement, StatementError, Subject, parse_statement
from tests.helpers.attest import PREDICATE, TREE, statement

VALID: dict[str, Any] = {
    "_type": STATEMENT_TYPE,
    "subject": [{"name": "repo", "digest": {"gitTree": TREE}}],
    "predicateType": PREDICATE,
    "predicate": {"result": "passed"},
}


def in_toto_validate(document: dict[str, Any]) -> None:
    """Validate with in-toto/attestation's Python bindings (protobuf schema + validate())."""
    pb = json_format.Parse(json.dumps(document), statement_pb2.Statement())
    ita_statement.Statement.copy_from_pb(pb).validate()


def with_(**changes: Any) -> dict[str, Any]:
    doc: dict[str, Any] = json.loads(json.dumps(VALID))
    for key, value in changes.items():
        if value is None:
            doc.pop(key)
        else:
            doc[key] = value
    return doc


def test_statement_serialises_to_canonical_json() -> None:
    assert statement().to_json() == (
        b'{"_type":"https://in-toto.io/Statement/v1","predicate":{"result":"passed"},'
        b'"predicateType":"https://changegate.dev/test-predicate/v1",'
        b'"subject":[{"digest":{"gitTree":"' + TREE.encode() + b'"},"name":"repo"}]}'
    )


def test_in_toto_bindings_accept_our_statement_unchanged() -> None:
    ours = json.loads(statement().to_json())
    in_toto_validate(ours)
    pb = json_format.Parse(json.dumps(ours), statement_pb2.Statement())
    assert json_format.MessageToDict(pb) == ours


def test_parse_returns_the_statement_that_was_built() -> None:
    built = Statement((Subject.git_tree(TREE), Subject("model", {"sha256": "ab" * 32})),
                      PREDICATE, {"n": [1, 2]})
    assert parse_statement(built.to_json()) == built
    assert parse_statement(built.to_dict()).digests("gitTree") == (TREE,)


@pytest.mark.parametrize(
    ("document", "rule"),
    [
        (with_(_type=None), '"_type" is missing'),
        (with_(_type="https://in-toto.io/Statement/v0.1"), "it must be 'https://in-toto.io/Statement/v1'"),
        (with_(subject=None), '"subject" is missing'),
        (with_(subject=[]), '"subject" is empty'),
        (with_(subject=[{"name": "repo"}]), "subject[0].digest is missing"),
        (with_(subject=[{"name": "repo", "digest": {}}]), "subject[0].digest is empty"),
        (with_(predicateType=""), '"predicateType" \'\' is not a URI'),
    ],
)
def test_spec_violations_refused_by_in_toto_bindings_are_refused_here(
    document: dict[str, Any], rule: str
) -> None:
    with pytest.raises(ValueError):
        in_toto_validate(document)
    with pytest.raises(StatementError) as caught:
        parse_statement(json.dumps(document))
    assert rule in str(caught.value)


@pytest.mark.parametrize(
    ("document", "rule"),
    [
        (with_(subject=[{"digest": {"gitTree": TREE.upper()}}]), "must be lowercase hex"),
        (with_(subject=[{"digest": {"gitTree": TREE[:39]}}]), "must be 40 or 64 hex digits, got 39"),
        (with_(subject=[{"digest": {"sha256": "00"}}]), "must be 64 hex digits, got 2"),
        (with_(subject=[{"digest": {"gitCommit": 7}}]), "must be a non-empty string"),
        (with_(subject=[{"digest": {"gitTree": TREE}, "name": 3}]), "subject[0].name must be a string"),
        (with_(subject={"digest": {"gitTree": TREE}}), "must be a list"),
        (with_(subject=["repo"]), "subject[0] must be a JSON object"),
        (with_(predicateType="dry-run"), "is not a URI"),
        (with_(predicateType="HTTPS://Changegate.dev/x"), "is not a URI with a lowercase scheme"),
        (with_(predicateType=["https://x.dev/a"]), '"predicateType" is a list'),
        (with_(predicate="passed"), '"predicate" must be a JSON object'),
    ],
)
def test_spec_rules_the_bindings_do_not_check_are_enforced(document: dict[str, Any], rule: str) -> None:
    with pytest.raises(StatementError) as caught:
        parse_statement(json.dumps(document))
    assert rule in str(caught.value)


def test_every_broken_rule_is_reported_at_once() -> None:
    with pytest.raises(StatementError) as caught:
        parse_statement(json.dumps({"_type": "x", "subject": [], "predicateType": 1}))
    assert len(caught.value.errors) == 3


@pytest.mark.parametrize(
    ("payload", "problem"),
    [
        (b"[1]", "must be a JSON object"),
        (b'{"_type": 1, "_type": 2}', "duplicate key '_type'"),
        (b'{"x": NaN}', "NaN is not valid JSON"),
        (b"\xff{}", "not UTF-8"),
        (b"{", "not JSON"),
    ],
)
def test_payload_that_is_not_one_unambiguous_json_object_is_refused(payload: bytes, problem: str) -> None:
    with pytest.raises(StatementError, match=problem):
        parse_statement(payload)


def test_unknown_digest_algorithms_and_extension_fields_are_accepted() -> None:
    document = with_(subject=[{"digest": {"gitTree": TREE, "arn": "arn:aws:ec2:x"}, "x-ext": 1}],
                     x_extension={"a": 1})
    parsed = parse_statement(json.dumps(document))
    assert parsed.digests("arn") == ("arn:aws:ec2:x",)
    in_toto_validate(json.loads(parsed.to_json()))


def test_predicate_is_optional_as_the_spec_says() -> None:
    assert parse_statement(json.dumps(with_(predicate=None))).predicate == {}


def test_building_an_invalid_statement_raises() -> None:
    with pytest.raises(StatementError, match='"subject" is empty'):
        Statement((), PREDICATE, {})
    with pytest.raises(StatementError, match="lowercase hex"):
        Statement((Subject.git_tree("HEAD"),), PREDICATE, {})


def test_predicate_that_json_cannot_carry_is_refused() -> None:
    with pytest.raises(StatementError, match="predicate is not JSON"):
        Statement((Subject.git_tree(TREE),), PREDICATE, {"ratio": float("nan")})
