"""Class 7 (inputs that exhaust the hook): a push whose check runs past the hook's time budget
is rejected with one line naming the budget, the decision is recorded, and no process the
hook started outlives it."""

from __future__ import annotations

import json
import os
import time
import uuid
from pathlib import Path

from tests.helpers.repos import Clone, Server, git, policy_cli

POLICY = 'version: 1\nname: budget\nrules: [{id: no-gguf, deny_paths: ["*.gguf"]}]\n'


def install(server: Server, *extra: str) -> None:
    proc = policy_cli("hook", "install", "--repo", str(server.path), "--policy", str(server.policy_file), *extra)
    assert proc.returncode == 0, proc.stderr


def many_commits(clone: Clone, count: int) -> None:
    """`count` commits on the clone's main, each changing one of a thousand files."""
    stream = bytearray()
    for n in range(1, count + 1):
        stream += f"commit refs/heads/main\ncommitter T <t@example.com> {1_700_000_000 + n} +0000\n".encode()
        stream += b"data 1\nc\n" + (b"from refs/heads/main^0\n" if n == 1 else b"")
        stream += f"M 100644 inline src/d{n % 50}/f{n % 997}.py\ndata 2\n{n % 10}\n\n".encode()
    git("fast-import", "--quiet", cwd=clone.path, stdin=bytes(stream))


def processes_with(marker: str) -> list[str]:
    """Command lines of the live processes whose environment holds `marker`."""
    found = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{pid}/environ", "rb") as f:
                if marker.encode() not in f.read():
                    continue
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                found.append(f.read().replace(b"\0", b" ").decode("utf-8", "replace"))
        except OSError:
            continue
    return found


def setup(tmp_path: Path, *extra: str) -> tuple[Server, Clone]:
    server = Server(tmp_path, POLICY)
    install(server, *extra)
    clone = Clone(tmp_path, server)
    clone.commit("init", "README.md")
    assert clone.push("HEAD:refs/heads/main").code == 0
    return server, clone


def test_a_push_past_the_time_budget_is_rejected_recorded_and_leaves_no_process(tmp_path: Path) -> None:
    server, clone = setup(tmp_path)
    install(server, "--time-budget", "0.1")
    many_commits(clone, 8000)
    marker = f"CHANGEGATE_TEST_MARK={uuid.uuid4()}"
    before = server.rev("refs/heads/main")
    result = clone.push("HEAD:refs/heads/main", env={marker.split("=")[0]: marker.split("=")[1]})
    assert result.code != 0
    assert result.remote.splitlines() == [
        "changegate: push rejected: checking it took longer than the time budget of 0.1 s; "
        "an administrator can raise it (policy hook install --time-budget SECONDS)"]
    assert server.rev("refs/heads/main") == before
    record = json.loads(server.audit_log.read_text().splitlines()[-1])
    assert record["error"] == "time-budget" and record["allowed"] is False and record["exit_code"] == 1
    assert record["actor"]["name"] and "took longer than 0.1 s" in record["detail"]
    assert processes_with(marker) == []


def test_thousands_of_patterns_against_thousands_of_paths_hit_the_budget(tmp_path: Path) -> None:
    """Within every policy limit, and still too slow to judge: the budget is what stops it.

    Compiling and matching 10,000 patterns against 3,000 paths takes about 1.4 s on 2 cores; the
    budget is a seventh of that, so the test does not depend on the machine being slow."""
    rules = "".join(f"  - id: r{r}\n    deny_paths: [" + ", ".join(f"'**/x{r}/*/*[0-9]?/f{i}.never'"
                                                              for i in range(1000)) + "]\n" for r in range(10))
    server = Server(tmp_path, "version: 1\nname: wide\nrules:\n" + rules)
    install(server, "--time-budget", "0.2")
    clone = Clone(tmp_path, server)
    for i in range(3000):
        clone.write(f"src/d{i % 40}/sub{i % 7}/file{i}.py")
    clone.commit("many paths")
    start = time.monotonic()
    result = clone.push("HEAD:refs/heads/main")
    assert time.monotonic() - start < 15
    assert result.code != 0
    assert "push rejected: checking it took longer than the time budget of 0.2 s" in result.remote
    assert server.rev("refs/heads/main") is None


def test_a_push_within_the_budget_passes_and_the_budget_is_in_the_hook_config(tmp_path: Path) -> None:
    server, clone = setup(tmp_path, "--time-budget", "30")
    assert json.loads((server.path / "changegate" / "hook.json").read_text())["time_budget"] == 30
    clone.commit("ok", "a.txt")
    result = clone.push("HEAD:refs/heads/main")
    assert result.code == 0, result.out
    assert "changegate: push allowed by policy 'budget'" in result.remote
    assert json.loads(server.audit_log.read_text().splitlines()[-1])["allowed"] is True


def test_the_default_budget_is_4_seconds(tmp_path: Path) -> None:
    server = Server(tmp_path, POLICY)
    assert json.loads((server.path / "changegate" / "hook.json").read_text())["time_budget"] == 4


def test_a_budget_that_is_not_a_positive_number_is_refused_at_install(tmp_path: Path) -> None:
    server = Server(tmp_path, POLICY)
    for bad in ("0", "-1", "soon"):
        proc = policy_cli("hook", "install", "--repo", str(server.path), "--policy", str(server.policy_file),
                          "--time-budget", bad)
        assert proc.returncode == 2 and "Invalid value for '--time-budget'" in proc.stderr


def test_a_swallowed_interruption_still_ends_the_hook_within_the_grace(tmp_path: Path) -> None:
    """Python drops an exception raised inside a __del__ method or a gc callback: the budget's
    interruption can vanish there. The hook then stops hard, recorded and in one line."""
    import subprocess
    import sys

    git_dir = tmp_path / "repo.git"
    (git_dir / "changegate").mkdir(parents=True)
    script = (
        "import time\n"
        "import engine.prereceive as p\n"
        f"p._arm(0.05, time.monotonic(), {str(git_dir)!r})\n"
        "while True:\n"
        "    try:\n"
        "        time.sleep(0.01)\n"
        "    except BaseException:\n"
        "        pass  # as Python does with an exception raised in a __del__ method\n"
    )
    started = time.monotonic()
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=30,
                          cwd=Path(__file__).resolve().parents[2])
    took = time.monotonic() - started
    assert proc.returncode == 1, proc.stderr
    assert "took longer than the time budget of 0.05 s" in proc.stderr
    assert took < 5
    [entry] = [json.loads(line) for line in (git_dir / "changegate" / "audit.jsonl").read_text().splitlines()]
    assert entry["error"] == "time-budget" and "stopped hard" in entry["detail"] and entry["allowed"] is False
