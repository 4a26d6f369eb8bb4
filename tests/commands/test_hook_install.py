"""`policy hook install`: idempotent, never clobbers a foreign hook, judges by the protected policy."""

from __future__ import annotations

import shutil
from pathlib import Path

from tests.helpers.repos import Clone, Server, git, policy_cli

POLICY = 'version: 1\nname: gate\nrules:\n  - id: no-gguf\n    deny_paths: ["*.gguf"]\n'
WEAK = 'version: 1\nname: weak\nrules:\n  - id: no-bin\n    deny_paths: ["*.never"]\n'


def test_installing_twice_is_idempotent(tmp_path: Path) -> None:
    server = Server(tmp_path, POLICY)
    hook = server.path / "hooks" / "pre-receive"
    first = hook.read_bytes()
    proc = policy_cli("hook", "install", "--repo", str(server.path), "--policy", str(server.policy_file))
    assert proc.returncode == 0, proc.stderr
    assert hook.read_bytes() == first
    assert first.startswith(b"#!") and b"-IS" in first.splitlines()[0]


def test_foreign_hook_is_kept_unless_forced(tmp_path: Path) -> None:
    git("init", "-q", "--bare", str(tmp_path / "s.git"), cwd=tmp_path)
    hook = tmp_path / "s.git" / "hooks" / "pre-receive"
    hook.write_text("#!/bin/sh\necho mine\n")
    policy = tmp_path / "p.yml"
    policy.write_text(POLICY)
    proc = policy_cli("hook", "install", "--repo", str(tmp_path / "s.git"), "--policy", str(policy))
    assert proc.returncode == 2
    assert "was not written by changegate" in proc.stderr
    assert hook.read_text() == "#!/bin/sh\necho mine\n"
    proc = policy_cli("hook", "install", "--repo", str(tmp_path / "s.git"), "--policy", str(policy), "--force")
    assert proc.returncode == 0
    assert (tmp_path / "s.git" / "hooks" / "pre-receive.before-changegate").read_text() == "#!/bin/sh\necho mine\n"


def test_invalid_policy_is_refused_at_install(tmp_path: Path) -> None:
    git("init", "-q", "--bare", str(tmp_path / "s.git"), cwd=tmp_path)
    policy = tmp_path / "p.yml"
    policy.write_text("version: 1\nrules: [{id: x, deny: [teleport]}]\n")
    proc = policy_cli("hook", "install", "--repo", str(tmp_path / "s.git"), "--policy", str(policy))
    assert proc.returncode == 2
    assert "'teleport' is not allowed" in proc.stderr
    assert not (tmp_path / "s.git" / "hooks" / "pre-receive").exists()


def test_a_push_cannot_weaken_the_policy_that_judges_it(tmp_path: Path) -> None:
    server = Server(tmp_path, None, policy_ref="refs/heads/main:.changegate/policy.yml")
    clone = Clone(tmp_path, server)
    # Bootstrapping: without a policy in the ref (and no fallback file), pushes fail closed.
    clone.write(".changegate/policy.yml", POLICY)
    clone.commit("policy")
    refused = clone.push("HEAD:refs/heads/main")
    assert refused.code != 0 and "no policy at .changegate/policy.yml in refs/heads/main" in refused.remote
    fallback = tmp_path / "bootstrap.yml"
    fallback.write_text(POLICY)
    assert policy_cli("hook", "install", "--repo", str(server.path), "--policy-ref",
                      "refs/heads/main:.changegate/policy.yml", "--policy", str(fallback)).returncode == 0
    assert clone.push("HEAD:refs/heads/main").code == 0
    # Now the push weakens the policy and adds a forbidden file in one go: judged by the old policy.
    clone.write(".changegate/policy.yml", WEAK)
    clone.commit("weaken", "model.gguf")
    result = clone.push("HEAD:refs/heads/main")
    assert result.code != 0
    assert "[DENY] no-gguf" in result.remote


def test_policy_change_takes_effect_once_it_is_on_the_protected_ref(tmp_path: Path) -> None:
    server = Server(tmp_path, POLICY, policy_ref="refs/heads/main:.changegate/policy.yml")
    clone = Clone(tmp_path, server)
    clone.write(".changegate/policy.yml", WEAK)
    clone.commit("relax the policy")
    assert clone.push("HEAD:refs/heads/main").code == 0
    clone.commit("now allowed", "model.gguf")
    result = clone.push("HEAD:refs/heads/main")
    assert result.code == 0, result.out
    assert "policy 'weak'" in result.remote


def test_install_honours_core_hookspath(tmp_path: Path) -> None:
    git("init", "-q", "--bare", str(tmp_path / "s.git"), cwd=tmp_path)
    git("config", "core.hooksPath", str(tmp_path / "shared-hooks"), cwd=tmp_path / "s.git")
    policy = tmp_path / "p.yml"
    policy.write_text(POLICY)
    assert policy_cli("hook", "install", "--repo", str(tmp_path / "s.git"), "--policy", str(policy)).returncode == 0
    assert (tmp_path / "shared-hooks" / "pre-receive").exists()


def test_install_writes_a_commit_graph_for_the_walk_over_every_ref(tmp_path: Path) -> None:
    """Every push walks `new --not --all`; a commit-graph spares git reading each ref's commit."""
    server = Server(tmp_path, POLICY)
    clone = Clone(tmp_path, server)
    clone.commit("init", "README.md")
    assert clone.push("HEAD:refs/heads/main").code == 0
    graph = server.path / "objects" / "info"
    for old in (graph / "commit-graph", graph / "commit-graphs"):
        if old.is_dir():
            shutil.rmtree(old)
        old.unlink(missing_ok=True)
    proc = policy_cli("hook", "install", "--repo", str(server.path), "--policy", str(server.policy_file))
    assert proc.returncode == 0, proc.stderr
    verified = git("commit-graph", "verify", cwd=server.path)
    assert verified.code == 0
    assert (graph / "commit-graph").exists() or (graph / "commit-graphs").exists()
