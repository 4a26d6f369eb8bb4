"""allowed_signers parsing: OpenSSH's format, its options, and errors that name the line."""

from __future__ import annotations

import base64
import datetime as dt
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from engine.attest import (
    AllowedSignersError,
    AttestError,
    load_allowed_signers,
    match_pattern_list,
    parse_allowed_signers,
)
from engine.attest.sshsyntax import parse_ssh_time
from tests.helpers.attest import NOW, KeyPair


def test_comments_blank_lines_and_entries_keep_their_line_numbers(alice: KeyPair, bob: KeyPair) -> None:
    text = (
        "# trusted signers\n"
        "\n"
        f"   alice@example.com {alice.public_line} alice's laptop key\n"
        "\t# indented comment\n"
        f"ci-*,bob@example.com {bob.public_line}\n"
    )
    signers = parse_allowed_signers(text)
    assert [(e.line, e.principals, e.key.fingerprint) for e in signers.entries] == [
        (3, "alice@example.com", alice.fingerprint),
        (5, "ci-*,bob@example.com", bob.fingerprint),
    ]


def test_options_are_parsed_case_insensitively(alice: KeyPair) -> None:
    line = ('alice@example.com NAMESPACES="changegate-*",Valid-After="20260101Z",'
            f'valid-before="202612312359Z" {alice.public_line}')
    (entry,) = parse_allowed_signers(line).entries
    assert entry.namespaces == "changegate-*"
    assert entry.valid_after == int(dt.datetime(2026, 1, 1, tzinfo=dt.UTC).timestamp())
    assert entry.valid_before == int(dt.datetime(2026, 12, 31, 23, 59, tzinfo=dt.UTC).timestamp())


def test_quoted_principals_may_contain_spaces(alice: KeyPair) -> None:
    (entry,) = parse_allowed_signers(f'"Alice Smith <alice@example.com>" {alice.public_line}').entries
    assert entry.principals == "Alice Smith <alice@example.com>"


def test_escaped_quote_inside_an_option_value(alice: KeyPair) -> None:
    (entry,) = parse_allowed_signers(f'a namespaces="x\\"y" {alice.public_line}').entries
    assert entry.namespaces == 'x"y'


def test_non_ed25519_keys_are_skipped_with_a_reason(new_key: Callable[..., KeyPair]) -> None:
    rsa = new_key("legacy", key_type="rsa")
    signers = parse_allowed_signers(f"old@example.com {rsa.public_line}\n")
    assert signers.entries == ()
    (skipped,) = signers.skipped
    assert (skipped.line, skipped.fingerprint) == (1, rsa.fingerprint)
    assert "ssh-rsa keys are not accepted" in skipped.reason


def test_cert_authority_lines_are_skipped_with_a_reason(alice: KeyPair) -> None:
    signers = parse_allowed_signers(f"*@example.com cert-authority {alice.public_line}\n")
    assert signers.entries == ()
    assert "certificates" in signers.skipped[0].reason


def _swap_type(line: str) -> str:
    return "ssh-rsa " + line.split()[1]


@pytest.mark.parametrize(
    ("template", "problem"),
    [
        ("p namespaces=changegate {key}", 'value of "namespaces" must be in double quotes'),
        ('p namespace="x" {key}', "unknown option 'namespace=\"x\"'"),
        ('p namespaces="a",namespaces="b" {key}', 'multiple "namespaces" clauses'),
        ('p namespaces="a", {key}', "options end with a comma"),
        ('p namespaces="a {key}', "unterminated quote in options"),
        ('"p {key}', "unterminated quote in principals"),
        ("p", "the key is missing"),
        ('p namespaces="a"', "the key is missing"),
        ("p ssh-ed25519", "key data is missing"),
        ("p ssh-ed25519 AAAA!!!!", "not valid base64"),
        ("p {rsa_typed}", "not a ssh-rsa key"),
        ("p ssh-foo AAAA", "'ssh-foo' is neither a known key type nor options"),
        ('p namespaces="x" ssh-foo AAAA', "unknown key type 'ssh-foo'"),
        ('p valid-after="2026-01-01" {key}', 'invalid "valid-after" time'),
        ('p valid-before="20260231Z" {key}', 'invalid "valid-before" time'),
        ('p valid-after="19700101Z" {key}', 'invalid "valid-after" time'),
        ('p valid-after="20260102Z",valid-before="20260101Z" {key}', "before \"valid-after\""),
    ],
)
def test_malformed_line_is_an_error_with_its_line_number(alice: KeyPair, template: str, problem: str) -> None:
    line = template.format(key=alice.public_line, rsa_typed=_swap_type(alice.public_line))
    with pytest.raises(AllowedSignersError) as caught:
        parse_allowed_signers(f"# header\n{line}\n", source="trust/allowed_signers")
    assert caught.value.errors[0][0] == 2
    assert problem in str(caught.value)
    assert "trust/allowed_signers:2:" in str(caught.value)


def test_every_malformed_line_is_reported(alice: KeyPair) -> None:
    text = f"a nope {alice.public_line}\nok {alice.public_line}\nb\n"
    with pytest.raises(AllowedSignersError) as caught:
        parse_allowed_signers(text)
    assert [n for n, _ in caught.value.errors] == [1, 3]


def test_ed25519_key_data_of_the_wrong_size_is_an_error() -> None:
    blob = base64.b64encode(b"\0\0\0\x0bssh-ed25519\0\0\0\x03abc").decode()
    with pytest.raises(AllowedSignersError, match="ssh-ed25519 key data is malformed"):
        parse_allowed_signers(f"p ssh-ed25519 {blob}")


@pytest.mark.parametrize(
    ("text", "patterns", "result"),
    [
        ("alice@example.com", "alice@example.com", 1),
        ("alice@example.com", "*@example.com", 1),
        ("alice@example.com", "?lice@example.com", 1),
        ("alice@example.com", "bob@example.com,alice@*", 1),
        ("alice@example.com", "*,!alice@example.com", -1),
        ("alice@example.com", "!bob@*,*", 1),
        ("alice@example.com", "Alice@example.com", 0),
        ("ci-[1]", "ci-[1]", 1),
        ("ci-1", "ci-[1]", 0),
        ("anything", "", 0),
    ],
)
def test_pattern_lists_follow_openssh(text: str, patterns: str, result: int) -> None:
    assert match_pattern_list(text, patterns) == result


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("20260601Z", dt.datetime(2026, 6, 1, tzinfo=dt.UTC)),
        ("202606011230z", dt.datetime(2026, 6, 1, 12, 30, tzinfo=dt.UTC)),
        ("20260601123045UTC", dt.datetime(2026, 6, 1, 12, 30, 45, tzinfo=dt.UTC)),
    ],
)
def test_utc_times(text: str, expected: dt.datetime) -> None:
    assert parse_ssh_time(text) == int(expected.timestamp())


@pytest.fixture
def tokyo_time() -> Iterator[None]:
    """Local time in a zone without DST, set for the process and put back after."""
    saved = time.tzname
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("TZ", "Asia/Tokyo")
        time.tzset()
        yield
    time.tzset()
    assert time.tzname == saved


def test_time_without_z_is_local_time_as_in_openssh(tokyo_time: None) -> None:
    assert parse_ssh_time("20260601") == int(dt.datetime(2026, 5, 31, 15, tzinfo=dt.UTC).timestamp())


@pytest.mark.parametrize("text", ["2026060", "20261301Z", "202606011260Z", "2026O601", "Z", ""])
def test_malformed_times_are_refused(text: str) -> None:
    with pytest.raises(ValueError):
        parse_ssh_time(text)


def test_naive_now_is_refused(alice: KeyPair) -> None:
    signers = parse_allowed_signers(f"a {alice.public_line}")
    with pytest.raises(AttestError, match="timezone-aware"):
        signers.authorizes(alice.public, principal="a", namespace="n", now=NOW.replace(tzinfo=None))


def test_loading_a_file_names_it_in_errors(tmp_path: Path, alice: KeyPair) -> None:
    path = tmp_path / "allowed_signers"
    path.write_text(f"alice {alice.public_line}\n")
    assert [e.principals for e in load_allowed_signers(path).entries] == ["alice"]
    path.write_text("alice\n")
    with pytest.raises(AllowedSignersError, match=f"{path}:1: "):
        load_allowed_signers(path)
    with pytest.raises(AttestError, match="cannot read allowed_signers file"):
        load_allowed_signers(tmp_path / "absent")
