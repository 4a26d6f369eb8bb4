"""`deny_secrets:` judged against changes described as data (MemoryFacts): which lines are scanned,
what the findings say (never the secret), what the baseline silences, what is skipped and counted,
and the per-push cap. Real pushes: tests/rules/test_content_push.py."""

from __future__ import annotations

import hashlib
import json
from typing import Any

from engine.change import ChangedPath, Commit
from engine.decision import Outcome
from tests.rules._memory import NEW, OLD, TREE, outcome

# Values from detect-secrets' own test data (test_data/each_secret.py, tests/plugins/*_test.py,
# test_data/files/private_key): formats its detectors are tested on.
AWS_KEY = "AKIAIOSFODNN7EXAMPLE"
GITHUB_TOKEN = "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"
PRIVATE_KEY = ("-----BEGIN OPENSSH PRIVATE KEY-----\nsomethingSuperRandomAndSecretHereThatShouldNeverBeShared\n"
               "-----END OPENSSH PRIVATE KEY-----\n")

POLICY = "version: 1\nname: t\nrules:\n  - id: secrets\n    deny_secrets: {}\n"


def oid(n: int) -> str:
    return f"{n:040x}"


def change(*paths: tuple[str, str, str, str], commit_oid: str = NEW, parent: str = OLD) -> Commit:
    """A commit changing (path, status, new blob, old blob) entries."""
    return Commit(commit_oid, TREE, (parent,), "Ann", "ann@example.com",
                  tuple(ChangedPath(p.encode(), status, new, "100644", old) for p, status, new, old in paths))


def judged(commits: list[Commit], blobs: dict[str, bytes], policy: str = POLICY, **facts: Any) -> Outcome:
    return outcome(policy, stage="push", commits=commits, blobs=blobs, **facts)


def rendered(o: Outcome) -> str:
    return json.dumps(o._asdict())


def test_an_aws_key_pasted_into_a_prompt_is_named_by_commit_path_line_and_detector() -> None:
    text = f"You are a support agent.\nUse key {AWS_KEY} for S3.\n".encode()
    found = judged([change(("prompts/system.txt", "A", oid(1), "0" * 40))], {oid(1): text})
    assert found.status == "fail"
    assert found.seen == (f"commit {NEW[:10]} on refs/heads/main adds prompts/system.txt: line 2: AWS Access Key "
                          "(AWSKeyDetector); the secret is not shown",)
    assert AWS_KEY not in rendered(found)
    assert found.paths == ("prompts/system.txt",)


def test_each_format_of_the_detector_test_data_is_found() -> None:
    blobs = {oid(1): f"token = '{GITHUB_TOKEN}'\n".encode(), oid(2): PRIVATE_KEY.encode(),
             oid(3): f"aws_access_key = '{AWS_KEY}'\n".encode()}
    found = judged([change(("a.py", "A", oid(1), ""), ("id_key", "A", oid(2), ""), ("c.yaml", "A", oid(3), ""))],
                   blobs)
    assert found.status == "fail"
    detectors = sorted(line.split("(")[-1].split(")")[0] for line in found.seen)
    assert detectors == ["AWSKeyDetector", "GitHubTokenDetector", "PrivateKeyDetector"]
    for secret in (GITHUB_TOKEN, AWS_KEY, "somethingSuperRandom"):
        assert secret not in rendered(found)


def test_only_the_lines_a_commit_adds_are_scanned_and_numbered_in_the_new_file() -> None:
    old = f"intro\nlegacy = '{AWS_KEY}'\n".encode()
    new = f"intro\nlegacy = '{AWS_KEY}'\nghost = '{GITHUB_TOKEN}'\n".encode()
    found = judged([change(("cfg.py", "M", oid(2), oid(1)))], {oid(1): old, oid(2): new})
    assert found.status == "fail"
    assert [line.split(": ")[1] for line in found.seen] == ["line 3"]
    assert "GitHubTokenDetector" in found.seen[0]


def test_a_file_without_secrets_passes_and_says_how_much_was_scanned() -> None:
    found = judged([change(("a.txt", "A", oid(1), ""))], {oid(1): b"hello\nworld\n"})
    assert found.status == "pass"
    assert found.message == "no secret in the lines new commits add to 1 new or changed file (2 lines screened)"


def test_the_trusted_baseline_silences_a_known_finding_but_not_one_audited_as_real() -> None:
    text = f"key = '{AWS_KEY}'\n".encode()
    entry = {"type": "AWS Access Key", "hashed_secret": hashlib.sha1(AWS_KEY.encode()).hexdigest(),
             "line_number": 1, "is_verified": False}
    baseline = {"version": "1.5.0", "results": {"a.py": [entry]}}
    commits = [change(("a.py", "A", oid(1), ""))]
    found = judged(commits, {oid(1): text}, trusted_files={".secrets.baseline": json.dumps(baseline).encode()})
    assert found.status == "pass"
    assert "1 known finding silenced by the baseline" in found.message
    real = {"results": {"a.py": [{**entry, "is_secret": True}]}}
    assert judged(commits, {oid(1): text},
                  trusted_files={".secrets.baseline": json.dumps(real).encode()}).status == "fail"
    elsewhere = {"results": {"other.py": [entry]}}  # the same secret in another file is not the known one
    assert judged(commits, {oid(1): text},
                  trusted_files={".secrets.baseline": json.dumps(elsewhere).encode()}).status == "fail"


def test_a_malformed_baseline_is_an_error_naming_it() -> None:
    found = judged([change(("a.py", "A", oid(1), ""))], {oid(1): b"x\n"},
                   trusted_files={".secrets.baseline": b"{not json"})
    assert found.status == "error"
    assert ".secrets.baseline is not a detect-secrets baseline" in found.message


def test_an_inline_allowlist_comment_written_by_the_pusher_does_not_silence() -> None:
    text = f"key = '{AWS_KEY}'  # pragma: allowlist secret\n".encode()
    assert judged([change(("a.py", "A", oid(1), ""))], {oid(1): text}).status == "fail"


def test_an_indirect_reference_shape_does_not_hide_a_key() -> None:
    text = f"key = str('{AWS_KEY}')\n".encode()
    assert judged([change(("a.py", "A", oid(1), ""))], {oid(1): text}).status == "fail"


def test_binary_and_oversized_files_are_skipped_and_counted() -> None:
    blobs = {oid(1): b"\x00\x01" + AWS_KEY.encode(), oid(2): b"ok\n"}
    found = judged([change(("blob.dat", "A", oid(1), ""), ("big.txt", "A", oid(3), ""), ("ok.txt", "A", oid(2), ""))],
                   blobs, sizes={oid(3): 5 << 20})
    assert found.status == "pass"
    assert "1 binary file skipped" in found.message
    assert "1 file over max_file_size 1MiB skipped (largest 5.0 MiB)" in found.message


def test_the_per_push_cap_fails_closed_and_names_the_cap() -> None:
    policy = "version: 1\nname: t\nrules:\n  - id: secrets\n    deny_secrets: {max_push_size: 10B}\n"
    found = judged([change(("a.txt", "A", oid(1), ""))], {oid(1): b"twenty bytes of text"}, policy)
    assert found.status == "fail"
    assert "over the per-push cap of 10 bytes (max_push_size 10B)" in found.message


def test_contents_nobody_can_read_fail_closed() -> None:
    found = judged([change(("a.txt", "A", oid(9), ""))], {})
    assert found.status == "fail" and "contents unknown" in found.seen[0]


def test_paths_limit_what_is_scanned_and_plugins_which_detectors_run() -> None:
    blobs = {oid(1): f"k = '{AWS_KEY}'\n".encode()}
    commits = [change(("src/a.py", "A", oid(1), ""))]
    only_prompts = "version: 1\nname: t\nrules:\n  - id: s\n    deny_secrets: {paths: ['prompts/']}\n"
    assert judged(commits, blobs, only_prompts).status == "pass"
    github_only = "version: 1\nname: t\nrules:\n  - id: s\n    deny_secrets: {plugins: [GitHubTokenDetector]}\n"
    assert judged(commits, blobs, github_only).status == "pass"
    assert judged(commits, blobs).status == "fail"


def test_a_generic_detector_runs_only_when_named() -> None:
    blobs = {oid(1): b"db_password = 'Tr0ub4dor&3horsebattery'\n"}
    commits = [change(("settings.py", "A", oid(1), ""))]
    assert judged(commits, blobs).status == "pass"
    keyword = "version: 1\nname: t\nrules:\n  - id: s\n    deny_secrets: {plugins: [KeywordDetector]}\n"
    found = judged(commits, blobs, keyword)
    assert found.status == "fail" and "KeywordDetector" in found.seen[0]
    assert "Tr0ub4dor" not in rendered(found)


def test_a_secret_added_then_removed_within_the_push_is_still_found() -> None:
    first = change(("a.txt", "A", oid(1), ""), commit_oid=oid(100))
    second = change(("a.txt", "M", oid(2), oid(1)), commit_oid=NEW, parent=oid(100))
    found = judged([first, second], {oid(1): f"{GITHUB_TOKEN}\n".encode(), oid(2): b"clean\n"})
    assert found.status == "fail"
    assert found.seen[0].startswith(f"commit {oid(100)[:10]} on refs/heads/main adds a.txt: line 1")


# Lines in the formats of detect-secrets' plugin tests, with the surroundings a screen could get
# wrong: non-ASCII text, tabs, trailing spaces, line starts and ends, lookarounds, long repeats.
SAMPLES = [
    f"key = '{AWS_KEY}'", f"Clé d'accès : {AWS_KEY} — ne pas partager", f"\t{GITHUB_TOKEN}   ",
    "glpat-" + "a1b2c3d4e5f6g7h8i9j0", "token: glagent-" + "x" * 60, "https://hooks.slack.com/services/"
    "T00000000/B00000000/XXXXXXXXXXXXXXXXXXXXXXXX", "sk_live_" + "4eC39HqLyjWDarjtT1zdp7dc",
    "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U",
    "AKC" + "a" * 12, "ibm_cloud_iam_key = 'abcd1234abcd1234abcd1234abcd1234abcd1234abcd'",
    "cloudant_password='" + "a" * 64 + "'", "-----BEGIN RSA PRIVATE KEY-----", "xoxb-123456789012-abcdef",
    "plain text with no secret", "ünïcödé only",
]


def test_the_screen_never_loses_what_detect_secrets_finds_in_a_line() -> None:
    from engine.rules.secrets import FORMAT_PLUGINS, _Scanner

    scanner = _Scanner(FORMAT_PLUGINS)
    for line in SAMPLES:
        key = (b"f.txt", "", "1" * 40)
        direct = scanner.findings({key: [(1, line.rstrip())]}).get(key, [])
        screen = scanner.screen({"1" * 40: line.encode() + b"\n"})["1" * 40]
        lines = scanner.candidates([line.encode()], screen, set()) if screen else []
        screened = scanner.findings({key: lines}).get(key, []) if lines else []
        assert screened == direct, line
    assert sum(bool(scanner.findings({(b"f", "", ""): [(1, line)]})) for line in SAMPLES) >= 10


def test_the_screen_maps_matches_to_the_right_file_and_line_across_many_files() -> None:
    from engine.rules.content import lines_of
    from engine.rules.secrets import FORMAT_PLUGINS, _Scanner

    scanner = _Scanner(FORMAT_PLUGINS)
    files = {}
    for n, line in enumerate(SAMPLES):  # each sample at a different line of its own file, among other files
        files[f"{n:040x}"] = (b"filler  \r\n" * n + line.encode() + b"\t \n" + b"tail\n").removesuffix(
            b"\n" if n % 2 else b"")
        files[f"{n + 100:040x}"] = b"" if n % 3 else b"\n\n"
    screened = scanner.screen(files)
    for oid, data in files.items():
        key = (b"f.txt", "", oid)
        lines = lines_of(data)
        direct = scanner.findings({key: [(i + 1, raw.decode().rstrip()) for i, raw in enumerate(lines)]}).get(key, [])
        screen = screened[oid]
        candidates = scanner.candidates(lines, screen, set()) if screen else []
        assert (scanner.findings({key: candidates}).get(key, []) if candidates else []) == direct, data
