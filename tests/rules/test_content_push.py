"""Content rules proven with real pushes into a bare repository with the hook: secrets in the
formats detect-secrets' own tests use, never shown in the pusher's terminal or the audit log; a
baseline on the protected ref (and only there) silences; binary and oversized files are skipped
and counted; the per-push cap fails closed; a pickle that would run a command is denied under a
`.bin` name and inside a PyTorch-style zip; and the content seam reads each blob once."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from engine.audit import read
from engine.change import Actor, Change, RefUpdate
from engine.facts.gitfacts import GitFacts
from engine.git import Git
from engine.judge import judge
from engine.policy.compile import compile_policy
from tests.helpers.repos import Clone, Server, protected
from tests.rules.test_models import benign_pickle, evil_pickle, gguf_file, safetensors_file, torch_style_zip
from tests.rules.test_secrets import AWS_KEY, GITHUB_TOKEN, PRIVATE_KEY

SECRETS = "version: 1\nname: content\nrules:\n  - id: no-secrets\n    deny_secrets: {}\n"
MODELS = "version: 1\nname: content\nrules:\n  - id: safe-models\n    deny_unsafe_models: {}\n"
BOTH = SECRETS + "  - id: safe-models\n    deny_unsafe_models: {}\n"


def outcomes(server: Server) -> list[dict[str, object]]:
    found: list[dict[str, object]] = read(str(server.audit_log))[-1]["outcomes"]
    return found


def test_secrets_in_the_detector_test_formats_are_rejected_and_never_shown(tmp_path: Path) -> None:
    server, clone = protected(tmp_path, SECRETS)
    clone.write("prompts/support.txt", f"You are a helpful agent.\nAWS key: {AWS_KEY}\n")
    clone.write("tools/github.py", f"TOKEN = '{GITHUB_TOKEN}'\n")
    clone.write("deploy/key", PRIVATE_KEY)
    clone.commit("add prompt and tools")
    result = clone.push("HEAD:refs/heads/main")
    assert result.code != 0
    assert "prompts/support.txt: line 2: AWS Access Key (AWSKeyDetector); the secret is not shown" in result.remote
    assert "tools/github.py: line 1: GitHub Token (GitHubTokenDetector)" in result.remote
    assert "deploy/key: line 1: Private Key (PrivateKeyDetector)" in result.remote
    log = server.audit_log.read_text()
    for secret in (AWS_KEY, GITHUB_TOKEN, "somethingSuperRandomAndSecret"):
        assert secret not in result.out and secret not in log
    assert server.rev("refs/heads/main") != clone.head()


def test_a_secret_added_in_an_intermediate_commit_and_removed_later_is_still_caught(tmp_path: Path) -> None:
    server, clone = protected(tmp_path, SECRETS)
    clone.write("prompts/a.txt", f"debug token {GITHUB_TOKEN}\n")
    leaked = clone.commit("oops")
    clone.write("prompts/a.txt", "clean now\n")
    clone.commit("remove the token")
    result = clone.push("HEAD:refs/heads/main")
    assert result.code != 0
    assert f"commit {leaked[:10]} on refs/heads/main adds prompts/a.txt: line 1: GitHub Token" in result.remote


def test_the_baseline_on_the_protected_ref_silences_and_one_in_the_push_does_not(tmp_path: Path) -> None:
    bootstrap = "version: 1\nname: boot\nrules: [{id: keep, deny: [deletion]}]\n"
    server = Server(tmp_path, bootstrap, policy_ref="refs/heads/main:.changegate/policy.yml")
    clone = Clone(tmp_path, server)
    clone.write(".changegate/policy.yml", SECRETS)
    clone.write("docs/example.md", f"Example key: {AWS_KEY}\n")
    baseline = subprocess.run([sys.executable, "-m", "detect_secrets", "scan", "docs/example.md"], cwd=clone.path,
                              capture_output=True, check=True).stdout
    assert b'"docs/example.md"' in baseline
    clone.write(".secrets.baseline", baseline)
    clone.commit("policy and an audited baseline")
    assert clone.push("HEAD:refs/heads/main").code == 0  # judged by the bootstrap policy

    clone.write("docs/example.md", f"Example key: {AWS_KEY}\nSee above.\n{AWS_KEY} again\n")
    clone.commit("the known example, twice")
    result = clone.push("HEAD:refs/heads/main")
    assert result.code == 0, result.out
    [outcome] = outcomes(server)
    assert "silenced by the baseline refs/heads/main:.secrets.baseline" in str(outcome["message"])

    clone.write("prompts/p.txt", f"{GITHUB_TOKEN}\n")  # a new secret, with a baseline in the same push listing it
    pushed_baseline = subprocess.run([sys.executable, "-m", "detect_secrets", "scan", "prompts/p.txt",
                                      "docs/example.md"], cwd=clone.path, capture_output=True, check=True).stdout
    clone.write(".secrets.baseline", pushed_baseline)
    clone.commit("sneak a token in with its own baseline")
    result = clone.push("HEAD:refs/heads/main")
    assert result.code != 0
    assert "prompts/p.txt: line 1: GitHub Token" in result.remote


def test_binary_and_oversized_files_are_skipped_and_counted(tmp_path: Path) -> None:
    policy = "version: 1\nname: content\nrules:\n  - id: no-secrets\n    deny_secrets: {max_file_size: 1KiB}\n"
    server, clone = protected(tmp_path, policy)
    clone.write("assets/logo.png", b"\x89PNG\r\n\x1a\n\x00\x00" + AWS_KEY.encode())
    clone.write("data/big.txt", ("line\n" * 400).encode())
    clone.write("src/ok.py", "print('hello')\n")
    clone.commit("assets")
    assert clone.push("HEAD:refs/heads/main").code == 0
    [outcome] = outcomes(server)
    assert outcome["status"] == "pass"
    assert "1 binary file skipped" in str(outcome["message"])
    assert "1 file over max_file_size 1KiB skipped" in str(outcome["message"])


def test_the_per_push_cap_fails_closed_naming_the_cap(tmp_path: Path) -> None:
    policy = "version: 1\nname: content\nrules:\n  - id: no-secrets\n    deny_secrets: {max_push_size: 1KiB}\n"
    server, clone = protected(tmp_path, policy)
    for n in range(3):
        clone.write(f"src/m{n}.py", (f"x = {n}\n" * 100).encode())  # three distinct blobs
    clone.commit("three modules")
    result = clone.push("HEAD:refs/heads/main")
    assert result.code != 0
    assert "over the per-push cap of 1,024 bytes (max_push_size 1KiB)" in result.remote


def test_a_pickle_that_would_run_a_command_is_denied_under_a_bin_name_and_inside_a_zip(tmp_path: Path) -> None:
    server, clone = protected(tmp_path, MODELS)
    clone.write("models/adapter.bin", evil_pickle())
    clone.write("models/pytorch_model.bin", torch_style_zip(evil_pickle(2)))
    clone.commit("fine-tuned adapter")
    result = clone.push("HEAD:refs/heads/main")
    assert result.code != 0
    assert "models/adapter.bin: a pickle that imports posix.system (dangerous); loading it runs code" in result.remote
    assert "models/pytorch_model.bin: a zip archive of pickles (e.g. a PyTorch checkpoint) that imports posix.system" \
        in result.remote
    assert not os.path.exists("/tmp/changegate-pwned")


def test_benign_pickles_safetensors_and_gguf_pass(tmp_path: Path) -> None:
    server, clone = protected(tmp_path, MODELS)
    clone.write("models/tokenizer.pkl", benign_pickle())
    clone.write("models/model.safetensors", safetensors_file())
    clone.write("models/model.gguf", gguf_file())
    clone.commit("safe formats")
    assert clone.push("HEAD:refs/heads/main").code == 0
    [outcome] = outcomes(server)
    assert "recognised: 1 gguf, 1 pickle, 1 safetensors" in str(outcome["message"])


class CountingGit(Git):
    """The real git, counting the blobs the content seam asks it to read."""

    asked: list[str]

    def read_blobs(self, wanted):  # type: ignore[no-untyped-def]
        self.asked = [*getattr(self, "asked", []), *(oid for oid, _ in wanted)]
        return super().read_blobs(wanted)


def test_the_same_blob_in_two_commits_is_read_once_for_both_rules(tmp_path: Path) -> None:
    server, clone = protected(tmp_path, "version: 1\nname: open\nrules: [{id: keep, deny: [deletion]}]\n")
    old = clone.head()
    clone.write("prompts/a.txt", "same contents\n")
    clone.commit("one")
    clone.write("prompts/b.txt", "same contents\n")  # the same blob again, in another commit and path
    new = clone.commit("two")
    clone.git("push", "-q", str(server.path), "HEAD:refs/heads/side")  # objects on the server, then judged
    repo = CountingGit(str(server.path))
    policy = compile_policy(BOTH.encode(), "policy.yml")
    change = Change((RefUpdate(old, new, b"refs/heads/main"),), Actor("ann", "cli", "--actor"), "push")
    facts = GitFacts(repo, change, server_refs=[(b"refs/heads/main", old)], policy=policy)
    decision = judge(policy, facts)
    assert [o.status for o in decision.outcomes] == ["pass", "pass"]
    assert len(repo.asked) == len(set(repo.asked)) == 1


def test_the_screen_is_kept_in_the_servers_cache_and_a_damaged_entry_is_rebuilt(tmp_path: Path) -> None:
    server, clone = protected(tmp_path, SECRETS)
    [entry] = (server.path / "changegate" / "cache").glob("detect-secrets-screen-*.json")
    entry.write_text('{"key": "forged", "every": false, "python": [], "slow": [], "fast": "(?m)nothing"}')
    clone.write("prompts/a.txt", f"{GITHUB_TOKEN}\n")
    clone.commit("token")
    result = clone.push("HEAD:refs/heads/main")
    assert result.code != 0 and "prompts/a.txt: line 1: GitHub Token" in result.remote
    assert '"key": "forged"' not in entry.read_text()


def test_content_rules_over_different_paths_each_judge_their_own_files(tmp_path: Path) -> None:
    """The files a content rule covers are worked out once per decision and shared by rules
    whose refs and paths are the very same matchers: two rules of one kind over different paths
    must each still judge their own (a share keyed on the kind alone would hand the second rule
    the first one's clean files, and let the key and the pickle through)."""
    policy = ("version: 1\nname: content\nrules:\n"
              "  - id: docs-secrets\n    deny_secrets: {paths: ['docs/']}\n"
              "  - id: prompt-secrets\n    deny_secrets: {paths: ['prompts/']}\n"
              "  - id: docs-models\n    deny_unsafe_models: {paths: ['docs/']}\n"
              "  - id: weights-models\n    deny_unsafe_models: {paths: ['weights/']}\n")
    server, clone = protected(tmp_path, policy)
    clone.write("docs/readme.md", "nothing to see\n")
    clone.write("prompts/system.txt", f"key {AWS_KEY}\n")
    clone.write("weights/model.bin", evil_pickle())
    clone.commit("a key and a pickle outside docs/")
    result = clone.push("HEAD:refs/heads/main")
    assert result.code != 0
    status = {o["rule"]: o["status"] for o in outcomes(server)}
    assert status == {"docs-secrets": "pass", "prompt-secrets": "fail", "docs-models": "pass",
                      "weights-models": "fail"}
    assert "prompts/system.txt: line 1: AWS Access Key" in result.remote
    assert "weights/model.bin" in result.remote
    assert server.rev("refs/heads/main") != clone.head()
