"""`max_file_size:` proven with real pushes, Git LFS pointers told from look-alikes, the size grammar
shared by the schema and the engine, and the facts the kind asks for (from git and as data)."""

from __future__ import annotations

import json
import re
import textwrap
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.audit import read
from engine.change import Actor, Change, ChangedPath, Commit, RefUpdate
from engine.facts.gitfacts import GitFacts
from engine.facts.memory import MemoryFacts
from engine.git import Git
from engine.judge import judge as judge_policy
from engine.policy.compile import compile_policy
from engine.policy.load import load_schema
from engine.policy.schema import fragment_path
from engine.rules.max_file_size import (
    POINTER_MIN,
    SIZE_MAX_LENGTH,
    SIZE_PATTERN,
    format_size,
    lfs_pointer_size,
    parse_size,
    split_size,
)
from tests.helpers.repos import Clone, Server, git, protected

OID = "4d7a214614ab2935c943f9e0ff69d22eadbb8f32b1258daaa5e2ca24d17e2393"
POINTER = f"version https://git-lfs.github.com/spec/v1\noid sha256:{OID}\nsize 5000000000\n".encode()


def policy(body: str) -> str:
    return f"version: 1\nname: size-test\nrules:\n  - id: sizes\n    max_file_size: {body}\n"


def sized(root: Path, body: str) -> tuple[Server, Clone]:
    """A server whose first commit went in under a lenient limit, now judging by `body`."""
    server, clone = protected(root, policy("{limit: 1GiB}"))
    server.policy_file.write_text(policy(body))
    return server, clone


def last_outcome(server: Server) -> dict[str, object]:
    outcome: dict[str, object] = read(str(server.audit_log))[-1]["outcomes"][0]
    return outcome


def tree_with(clone: Clone, path: str, content: bytes) -> str:
    """A tree object holding `path` (and the index's files), never committed."""
    clone.write(path, content)
    clone.git("add", "-A")
    tree = clone.git("write-tree").out.strip()
    clone.git("reset", "-q", "--hard")
    clone.git("clean", "-qfdx")
    return tree


# --------------------------------------------------------------------------- real pushes

def test_a_file_over_the_limit_is_denied_naming_commit_path_and_size(tmp_path: Path) -> None:
    server, clone = sized(tmp_path, "{limit: 2KiB}")
    clone.write("data/table.csv", b"x" * 3000)
    commit = clone.commit("add a table")
    result = clone.push("HEAD:refs/heads/main")
    assert result.code != 0
    assert "[DENY] sizes: 1 file(s) over 2KiB (2,048 bytes) in new commits" in result.remote
    assert f"commit {commit[:10]} on refs/heads/main adds data/table.csv: 2.9 KiB (3,000 bytes)" in result.remote
    assert "git filter-repo --strip-blobs-bigger-than 2048" in result.remote
    assert server.rev("refs/heads/main") != commit


def test_a_file_of_exactly_the_limit_passes(tmp_path: Path) -> None:
    server, clone = sized(tmp_path, "{limit: 2048}")
    clone.write("data/table.csv", b"x" * 2048)
    clone.commit("add a table")
    assert clone.push("HEAD:refs/heads/main").code == 0
    assert last_outcome(server)["message"] == "no file over 2,048 bytes among 1 new or changed file(s)"


def test_a_large_file_added_and_removed_within_one_push_is_still_caught(tmp_path: Path) -> None:
    server, clone = sized(tmp_path, "{limit: 1KB}")
    clone.write("dump.sql", b"x" * 1001)
    added = clone.commit("dump")
    clone.git("rm", "-q", "dump.sql")
    clone.commit("oops")
    result = clone.push("HEAD:refs/heads/main")
    assert result.code != 0
    assert f"commit {added[:10]} on refs/heads/main adds dump.sql: 1001 B (1,001 bytes)" in result.remote


def test_growing_a_file_past_the_limit_is_denied_and_deleting_one_is_allowed(tmp_path: Path) -> None:
    server, clone = sized(tmp_path, "{limit: 1MiB}")
    clone.write("legacy.bin", b"x" * 5000)
    clone.write("notes.txt", b"small\n")
    clone.commit("before the limit")
    assert clone.push("HEAD:refs/heads/main").code == 0
    server.policy_file.write_text(policy("{limit: 4KiB}"))
    clone.write("notes.txt", b"y" * 4097)
    grown = clone.commit("grow")
    result = clone.push("HEAD:refs/heads/main")
    assert result.code != 0 and f"commit {grown[:10]} on refs/heads/main changes notes.txt" in result.remote
    clone.git("reset", "-q", "--hard", "HEAD~1")
    clone.git("rm", "-q", "legacy.bin")
    clone.commit("drop the legacy file")
    assert clone.push("HEAD:refs/heads/main").code == 0


def test_paths_limit_the_rule_to_matching_files(tmp_path: Path) -> None:
    server, clone = sized(tmp_path, '{limit: 1KiB, paths: ["models/", "*.onnx"]}')
    clone.write("docs/big.md", b"x" * 4000)
    clone.commit("docs")
    assert clone.push("HEAD:refs/heads/main").code == 0
    clone.write("export/m.onnx", b"x" * 4000)
    clone.write("models/a/config.json", b"x" * 4000)
    clone.commit("models")
    result = clone.push("HEAD:refs/heads/main")
    assert result.code != 0 and "2 file(s) over 1KiB" in result.remote
    assert "adds export/m.onnx" in result.remote and "adds models/a/config.json" in result.remote
    assert "matching models/, *.onnx" in result.remote


def test_an_lfs_pointer_passes_and_is_reported_with_the_size_it_declares(tmp_path: Path) -> None:
    server, clone = sized(tmp_path, '{limit: 100B, paths: ["*.safetensors"], lfs: required}')
    clone.write("models/w.safetensors", POINTER)
    commit = clone.commit("weights through LFS")
    assert clone.push("HEAD:refs/heads/main").code == 0
    outcome = last_outcome(server)
    assert outcome["status"] == "pass" and "1 Git LFS pointer(s) passed" in str(outcome["message"])
    assert outcome["seen"] == [f"commit {commit[:10]} on refs/heads/main adds models/w.safetensors: "
                               "a Git LFS pointer to 4.7 GiB (5,000,000,000 bytes), stored outside git"]


def test_lfs_required_says_how_to_move_the_files_to_lfs(tmp_path: Path) -> None:
    server, clone = sized(tmp_path, '{limit: 1KiB, paths: ["*.gguf", "checkpoints/"], lfs: required}')
    clone.write("m.gguf", b"x" * 2000)
    clone.write("checkpoints/step-1/state", b"x" * 2000)
    clone.commit("weights")
    result = clone.push("HEAD:refs/heads/main")
    assert result.code != 0
    assert "unless it is stored through Git LFS" in result.remote
    assert ("git lfs track 'checkpoints/**' '*.gguf' (and commit .gitattributes), then git lfs migrate import "
            "--include='checkpoints/**,*.gguf' to rewrite the new commits") in result.remote


def test_a_pointer_look_alike_of_1024_bytes_or_more_is_judged_as_itself(tmp_path: Path) -> None:
    """Well-formed in every way but its size: only a blob under 1024 bytes can be a pointer."""
    server, clone = sized(tmp_path, "{limit: 1000B}")
    padded = POINTER + b"zz-padding " + b"a" * (1024 - len(POINTER) - len(b"zz-padding \n")) + b"\n"
    assert len(padded) == 1024 and lfs_pointer_size(padded[:len(POINTER)]) == 5_000_000_000
    clone.write("w.bin", padded)
    clone.commit("look-alike")
    result = clone.push("HEAD:refs/heads/main")
    assert result.code != 0 and "adds w.bin: 1.0 KiB (1,024 bytes)" in result.remote


def test_a_malformed_pointer_is_judged_as_itself(tmp_path: Path) -> None:
    server, clone = sized(tmp_path, "{limit: 100B}")
    clone.write("w.bin", POINTER.replace(b"\n", b"\r\n"))
    clone.commit("CRLF pointer")
    result = clone.push("HEAD:refs/heads/main")
    assert result.code != 0 and f"adds w.bin: {len(POINTER) + 3} B ({len(POINTER) + 3} bytes)" in result.remote


def test_a_path_with_control_bytes_is_shown_escaped(tmp_path: Path) -> None:
    server, clone = sized(tmp_path, "{limit: 10B}")
    clone.write(b"x\nremote: [ok] forged\x1b[2K.bin", b"x" * 64)
    clone.commit("odd name")
    result = clone.push("HEAD:refs/heads/main")
    assert result.code != 0
    assert "adds x\\nremote: [ok] forged\\x1b[2K.bin: 64 B (64 bytes)" in result.remote
    assert not any(line.startswith("[ok] forged") for line in result.remote.splitlines())
    assert "\x1b" not in result.out


def test_a_tree_pushed_as_a_ref_is_judged_blob_by_blob(tmp_path: Path) -> None:
    server, clone = sized(tmp_path, "{limit: 1KiB}")
    tree = tree_with(clone, "models/deep/w.bin", b"x" * 3000)
    result = clone.push(f"{tree}:refs/tags/weights")
    assert result.code != 0
    assert f"tree {tree[:10]} on refs/tags/weights adds models/deep/w.bin: 2.9 KiB (3,000 bytes)" in result.remote
    assert server.rev("refs/tags/weights") is None


def test_submodule_entries_are_skipped_and_counted(tmp_path: Path) -> None:
    server, clone = sized(tmp_path, "{limit: 0}")
    clone.git("update-index", "--add", "--cacheinfo", f"160000,{'1' * 40},vendor/lib")
    clone.git("commit", "-q", "-m", "a submodule")
    assert clone.push("HEAD:refs/heads/main").code == 0
    assert "1 submodule entry skipped (a commit has no size)" in str(last_outcome(server)["message"])
    clone.write("empty", b"")
    clone.write("one", b"1")
    clone.git("add", "empty", "one")
    clone.git("update-index", "--add", "--cacheinfo", f"160000,{'2' * 40},vendor/other")
    clone.git("commit", "-q", "-m", "two more")
    result = clone.push("HEAD:refs/heads/main")
    assert result.code != 0
    assert "1 file(s) over 0 bytes in new commits; 1 submodule entry skipped" in result.remote
    assert "adds one: 1 B (1 byte)" in result.remote and "adds empty" not in result.remote


def test_only_rules_of_this_kind_ask_git_for_blob_sizes(tmp_path: Path) -> None:
    """Every other push pays nothing: no `cat-file` process unless a max_file_size rule judges."""
    trace = tmp_path / "trace"
    server, clone = protected(tmp_path, "version: 1\nrules:\n  - id: p\n    deny_paths: ['*.gguf']\n")
    clone.commit("plain", "a.txt")
    assert clone.push("HEAD:refs/heads/main", env={"GIT_TRACE": str(trace)}).code == 0
    assert "git log" in trace.read_text() and "cat-file" not in trace.read_text()
    server.policy_file.write_text(policy("{limit: 1MiB}"))
    trace.unlink()
    clone.write("b.txt", b"b" * 200)  # of a size a pointer can have, so it is read
    clone.commit("sized")
    assert clone.push("HEAD:refs/heads/main", env={"GIT_TRACE": str(trace)}).code == 0
    assert cat_files(trace) == ["git cat-file --buffer '--batch-check=%(objecttype) %(objectsize)'",
                                "git cat-file --buffer --batch"]
    trace.unlink()
    clone.write("c.txt", b"c" * (POINTER_MIN - 1))
    clone.write("d.txt", b"d" * 1024)
    clone.commit("no pointer can be this small or this large")
    assert clone.push("HEAD:refs/heads/main", env={"GIT_TRACE": str(trace)}).code == 0
    assert cat_files(trace) == ["git cat-file --buffer '--batch-check=%(objecttype) %(objectsize)'"]


def cat_files(trace: Path) -> list[str]:
    """The `git cat-file` commands a push ran, from git's own trace."""
    return [line.partition("trace: built-in: ")[2] for line in trace.read_text().splitlines() if "cat-file" in line]


# --------------------------------------------------------------------------- the size grammar

SIZE_SCHEMA = load_schema()["$defs"]["size"]


def schema_accepts(value: object) -> bool:
    """The published schema's verdict, by the validator `policy validate` uses."""
    return bool(jsonschema.Draft202012Validator(SIZE_SCHEMA).is_valid(value))


def parses(value: object) -> bool:
    try:
        parse_size(value)
    except ValueError:
        return False
    return True


@pytest.mark.parametrize(("text", "size"), [
    ("10MiB", 10 << 20), ("10 MiB", 10 << 20), ("1.5GB", 1_500_000_000), ("512KiB", 512 << 10), ("0B", 0),
    ("1.5B", 1), ("0.5KiB", 512), ("2KB", 2000), ("1GiB", 1 << 30), ("007MB", 7_000_000),
    (0, 0), (4096, 4096), (2048.0, 2048),
])
def test_sizes_are_bytes_or_a_number_with_a_unit(text: object, size: int) -> None:
    assert schema_accepts(text) and parse_size(text) == size


@pytest.mark.parametrize("text", ["10mb", "10 mib", "10", "MiB", "1.MiB", ".5MiB", "10  MiB", "10MiB ", " 10MiB",
                                  "1e3B", "10TB", "-1B", "1,000B", "１0MiB", "10MiB\nx", -1, True, 1.5,
                                  "9" * 40 + "B"])
def test_malformed_sizes_fail_validation_and_parsing_alike(text: object) -> None:
    assert not schema_accepts(text) and not parses(text)


@given(st.text(alphabet="0123456789. BKMGi\n", max_size=14))
def test_the_schema_and_the_parser_agree_on_any_text(text: str) -> None:
    assert schema_accepts(text) == parses(text)


def test_the_schema_fragment_spells_the_engines_grammar() -> None:
    with open(fragment_path("max_file_size"), encoding="utf-8") as f:
        size = json.load(f)["$defs"]["size"]
    assert size["pattern"] == SIZE_PATTERN and size["maxLength"] == SIZE_MAX_LENGTH


def test_sizes_are_shown_in_binary_units() -> None:
    assert [format_size(n) for n in (0, 1023, 1024, 3000, 10 << 20, 5_000_000_000, 1 << 50)] == [
        "0 B", "1023 B", "1.0 KiB", "2.9 KiB", "10.0 MiB", "4.7 GiB", "1024.0 TiB"]


# --------------------------------------------------------------------------- LFS pointers

def test_a_pointer_declares_its_size() -> None:
    assert lfs_pointer_size(POINTER) == 5_000_000_000
    smallest = POINTER.replace(b"size 5000000000", b"size 0")
    assert lfs_pointer_size(smallest) == 0 and len(smallest) == POINTER_MIN
    extension = POINTER.replace(b"oid ", b"ext-0-foo sha256:" + OID.encode() + b"\noid ")
    assert lfs_pointer_size(extension) == 5_000_000_000  # extension keys sort before oid, as the spec says


@pytest.mark.parametrize("data", [
    POINTER.replace(b"\n", b"\r\n"),
    POINTER[:-1],  # no final newline
    POINTER + b"\n",  # an empty line
    POINTER.replace(b"spec/v1", b"spec/v2"),
    POINTER.replace(b"https://git-lfs", b"http://git-lfs"),
    b"version https://hawser.github.com/spec/v1\n" + POINTER.split(b"\n", 1)[1],
    POINTER.replace(OID.encode(), OID.upper().encode()),
    POINTER.replace(OID.encode(), OID[:63].encode()),
    POINTER.replace(b"sha256:", b"sha512:"),
    POINTER.replace(b"size 5000000000", b"size 05000000000"),
    POINTER.replace(b"size 5000000000", b"size -5"),
    POINTER.replace(b"size 5000000000", b"size 5e9"),
    POINTER.replace(b"size 5000000000", b"size \xd9\xa5"),  # an Arabic-Indic digit
    POINTER.replace(b"size 5000000000", b"size  5000000000"),
    POINTER.replace(b"size 5000000000\n", b""),  # no size
    POINTER.replace(b"oid sha256:" + OID.encode() + b"\n", b""),  # no oid
    b"version https://git-lfs.github.com/spec/v1\nsize 5\noid sha256:" + OID.encode() + b"\n",  # out of order
    POINTER + b"size 6\n",  # a repeated key
    POINTER + b"version https://git-lfs.github.com/spec/v1\n",
    POINTER + b"zz_ x\n",  # a key outside [a-z0-9.-]
    POINTER + b"zz \xff\n",  # not UTF-8
    POINTER + b"zz " + b"a" * (1020 - len(POINTER)) + b"\n",  # 1024 bytes
    b" " + POINTER,
])
def test_anything_else_is_not_a_pointer(data: bytes) -> None:
    assert lfs_pointer_size(data) is None


# --------------------------------------------------------------------------- the facts it asks for

def test_git_gives_each_changed_path_its_new_and_old_blob_and_mode(tmp_path: Path) -> None:
    for object_format in ("sha1", "sha256"):
        work = tmp_path / object_format
        git("init", "-q", f"--object-format={object_format}", str(work), cwd=tmp_path)
        (work / "a.txt").write_bytes(b"a\n")
        (work / "run.sh").write_bytes(b"#!/bin/sh\n")
        (work / "run.sh").chmod(0o755)
        git("add", "-A", cwd=work)
        git("commit", "-qm", "one", cwd=work)
        git("rm", "-q", "a.txt", cwd=work)
        git("commit", "-qm", "two", cwd=work)
        repo = Git(str(work / ".git"))
        head = repo.run("rev-parse", "HEAD").decode().strip()
        blob = repo.run("rev-parse", "HEAD:run.sh").decode().strip()
        removed = repo.run("rev-parse", "HEAD~1:a.txt").decode().strip()
        zero = "0" * len(head)
        for commits in (repo.log([head], limit=10), repo.commits([c for c, _ in repo.rev_list([head])])):
            paths = {(p.path, p.status): p for c in commits for p in c.paths}
            assert paths[(b"run.sh", "A")] == ChangedPath(b"run.sh", "A", blob, "100755", zero)
            assert paths[(b"a.txt", "D")] == ChangedPath(b"a.txt", "D", zero, "000000", removed)


def test_git_facts_read_only_small_blobs(tmp_path: Path) -> None:
    work = tmp_path / "work"
    git("init", "-q", str(work), cwd=tmp_path)
    repo = Git(str(work / ".git"))
    small = git("hash-object", "-w", "--stdin", cwd=work, stdin=POINTER).out.strip()
    large = git("hash-object", "-w", "--stdin", cwd=work, stdin=b"x" * 5000).out.strip()
    tree = git("write-tree", cwd=work).out.strip()
    facts = GitFacts(repo, Change((), Actor("ann", "cli", "--actor"), "push"), server_refs=[])
    assert facts.blob_sizes([small, large, tree, "f" * 40, ""]) == {small: len(POINTER), large: 5000}
    assert facts.small_blobs([small, large, tree], 1024) == {small: POINTER}
    assert facts.small_blobs([small], len(POINTER)) == {}


RULE = compile_policy(textwrap.dedent("""\
    version: 1
    name: memory
    rules:
      - id: sizes
        max_file_size: {limit: 1KiB, paths: ["models/", "*.bin"], lfs: required}
""").encode(), "memory.yml")
UPDATE = RefUpdate("a" * 40, "b" * 40, b"refs/heads/main")


def judge(paths: list[ChangedPath], rule: dict[str, Any] = RULE, **facts: Any) -> dict[str, Any]:
    commit = Commit("b" * 40, "t" * 40, ("a" * 40,), "T", "t@example.com", tuple(paths))
    data = MemoryFacts(Change((UPDATE,), Actor("ann", "cli", "--actor"), "push"), brings={UPDATE.ref: [commit]},
                       policy=rule, **facts)
    [outcome] = judge_policy(rule, data).outcomes
    return outcome._asdict()


def test_memory_facts_judge_sizes_pointers_submodules_and_deletions() -> None:
    paths = [ChangedPath(b"models/w.bin", "A", "1" * 40, "100644"),
             ChangedPath(b"models/p.bin", "M", "2" * 40, "100644"),
             ChangedPath(b"models/sub", "A", "3" * 40, "160000"),
             ChangedPath(b"models/gone.bin", "D", "0" * 40, "000000"),
             ChangedPath(b"docs/big.md", "A", "4" * 40, "100644")]
    outcome = judge(paths, sizes={"1" * 40: 7 << 30, "4" * 40: 1 << 30}, blobs={"2" * 40: POINTER})
    assert outcome["status"] == "fail"
    assert outcome["message"] == ("1 file(s) over 1KiB (1,024 bytes) in new commits; 1 Git LFS pointer(s) passed; "
                                  "1 submodule entry skipped (a commit has no size)")
    assert outcome["seen"] == (f"commit {'b' * 10} on refs/heads/main adds models/w.bin: "
                               "7.0 GiB (7,516,192,768 bytes)",)
    assert "git lfs track 'models/**'" in str(outcome["fix"])


def test_memory_facts_that_do_not_give_a_size_deny() -> None:
    outcome = judge([ChangedPath(b"w.bin", "A", "1" * 40, "100644"), ChangedPath(b"x.bin", "A")])
    assert outcome["status"] == "fail"
    assert outcome["message"] == "2 file(s) over 1KiB (1,024 bytes) in new commits; 2 of unknown size"
    assert outcome["seen"][1] == f"commit {'b' * 10} on refs/heads/main adds x.bin: size unknown (object not given)"


def test_memory_facts_hold_no_contents_for_a_blob_described_by_its_size() -> None:
    rule = compile_policy(b"version: 1\nrules:\n  - id: sizes\n    max_file_size: {limit: 100B}\n", "memory.yml")
    outcome = judge([ChangedPath(b"w.bin", "A", "1" * 40, "100644")], rule, sizes={"1" * 40: len(POINTER)})
    assert outcome["status"] == "fail" and f"adds w.bin: {len(POINTER)} B" in outcome["seen"][0]
    described = judge([ChangedPath(b"w.bin", "A", "1" * 40, "100644")], rule, blobs={"1" * 40: POINTER})
    assert described["status"] == "pass"


@settings(max_examples=3000, deadline=None, database=None)
@given(st.one_of(
    st.text(alphabet="0123456789. \nKMGiBb\u0663\u00b2", max_size=12),
    st.builds(lambda n, f, s, u, nl: f"{n}{f}{s}{u}{nl}", st.integers(0, 10**6).map(str),
              st.sampled_from(["", ".", ".5", ".05", "..5", ".5.5"]), st.sampled_from(["", " ", "  ", "\t"]),
              st.sampled_from(["B", "KB", "KiB", "MB", "MiB", "GB", "GiB", "kb", "KIB", "TB", ""]),
              st.sampled_from(["", "\n", "\n\n", " ", "\r\n"]))))
def test_sizes_are_read_exactly_as_the_schema_pattern_reads_them(text: str) -> None:
    """split_size (no `re` on the push path) gives what the schema validator's re.search gives."""
    match = re.search(SIZE_PATTERN, text)
    assert split_size(text) == (match.groups() if match else None), repr(text)
