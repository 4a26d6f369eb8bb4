"""engine.git: -z parsing with hostile paths, and parallel diffing equal to one process."""

from __future__ import annotations

import gc
import os
import signal
from pathlib import Path

import pytest

from engine import git as git_module
from engine.git import Git
from tests.helpers.repos import Clone, Server, git

HOSTILE = [b":starts-with-colon", b"new\nline", b"caf\xe9", b"sp ace/\ttab", b"\n:looks-like-an-entry"]


def fast_import(path: Path, commits: int, bad_at: int | None = None) -> None:
    stream = bytearray()
    for n in range(1, commits + 1):
        stream += f"commit refs/heads/main\ncommitter T <t@example.com> {1_700_000_000 + n} +0000\n".encode()
        stream += b"data 1\nc\n"
        name = f"src/f{n % 97}.py" if n != bad_at else "models/leak.gguf"
        stream += f"M 100644 inline {name}\ndata 2\n{n % 10}\n\n".encode()
    git("init", "-q", "--bare", "-b", "main", str(path), cwd=path.parent)
    git("fast-import", "--quiet", cwd=path, stdin=bytes(stream))


def test_hostile_paths_round_trip_through_diff_tree(tmp_path: Path) -> None:
    server = Server(tmp_path, 'version: 1\nrules: [{id: x, deny_paths: ["*.never"]}]\n')
    clone = Clone(tmp_path, server)
    for raw in HOSTILE:
        clone.write(raw)
    head = clone.commit("hostile")
    repo = Git(str(clone.path / ".git"))
    [commit] = repo.commits([head])
    assert sorted(p.path for p in commit.paths) == sorted(HOSTILE)
    assert {p.status for p in commit.paths} == {"A"}
    [logged] = repo.log([head], limit=5)
    assert logged == commit


def test_parallel_diff_tree_gives_the_same_commits_as_one_process(tmp_path: Path,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    fast_import(tmp_path / "r.git", 300)
    repo = Git(str(tmp_path / "r.git"))
    oids = [oid for oid, _ in repo.rev_list(["main"])]
    single = repo.commits(oids)
    monkeypatch.setattr(git_module, "PARALLEL_MIN", 50)
    parallel = repo.commits(oids)
    assert len(single) == 300
    assert parallel == single


@pytest.mark.slow
def test_large_push_is_judged_through_the_parallel_path(tmp_path: Path) -> None:
    fast_import(tmp_path / "src.git", 2500, bad_at=1700)
    server = Server(tmp_path, 'version: 1\nname: big\nrules: [{id: no-gguf, deny_paths: ["*.gguf"]}]\n')
    result = git("push", "--porcelain", str(server.path), "main", cwd=tmp_path / "src.git", check=False)
    assert result.code != 0
    assert "adds models/leak.gguf" in result.out
    assert server.rev("main") is None


def _children_of(pid: int) -> list[int]:
    """Processes (zombies included) whose parent is `pid`."""
    found = []
    for entry in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{entry}/stat", "rb") as f:
                fields = f.read().rpartition(b")")[2].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            found.append(int(entry))
    return found


@pytest.mark.parametrize("delay", [0.001, 0.005, 0.02, 0.05, 0.1, 0.2])
def test_an_exception_from_a_signal_handler_kills_and_reaps_every_git_child(tmp_path: Path, delay: float) -> None:
    """The hook's time budget interrupts git work at any point: parallel diff-tree included."""
    path = tmp_path / "big.git"
    path.mkdir()
    fast_import(path, 6000)
    repo = Git(str(path))
    oids = [oid for oid, _ in repo.rev_list(["main"])]
    assert len(oids) // git_module.PARALLEL_MIN >= 2 and (os.cpu_count() or 1) >= 2  # the parallel path

    class Stop(BaseException):
        pass

    def stop(signum: int, frame: object) -> None:
        raise Stop

    already = set(_children_of(os.getpid()))  # other tests' servers
    previous = signal.signal(signal.SIGALRM, stop)
    gc.disable()  # an exception raised in a gc callback (pytest plugins have some) would be dropped
    try:
        signal.setitimer(signal.ITIMER_REAL, delay)
        with pytest.raises(Stop):
            for _ in range(50):  # until the timer fires, wherever that is
                repo.commits(oids)
                repo.rev_list(["main"])
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
        gc.enable()
    git_module.reap_children()  # what the hook does last, for a child whose pid was never returned
    assert set(_children_of(os.getpid())) <= already


def test_a_signal_handler_raising_around_a_spawn_never_leaves_signals_blocked() -> None:
    """Python runs a pending handler inside pthread_sigmask, after the mask changed: if that
    handler raised while SIGALRM was being held, SIGALRM stayed blocked for good and no later
    time budget could fire."""

    class Stop(BaseException):
        pass

    def stop(signum: int, frame: object) -> None:
        raise Stop

    devnull = os.open(os.devnull, os.O_RDWR)
    previous = signal.signal(signal.SIGALRM, stop)
    blocked_at = None
    try:
        for i in range(2000):
            signal.setitimer(signal.ITIMER_REAL, 2e-5 * (i % 50 + 1))  # lands anywhere around the spawn
            try:
                git_module._wait(git_module._spawn(["true"], dict(os.environ), [devnull] * 3))
            except Stop:
                pass
            while True:  # the timer may fire while it is being stopped
                try:
                    signal.setitimer(signal.ITIMER_REAL, 0)
                    mask = signal.pthread_sigmask(signal.SIG_BLOCK, ())
                    break
                except Stop:
                    pass
            git_module.reap_children()
            if signal.SIGALRM in mask:
                blocked_at = i
                signal.pthread_sigmask(signal.SIG_UNBLOCK, (signal.SIGALRM, signal.SIGINT))
                break
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
        os.close(devnull)
    assert blocked_at is None, f"SIGALRM left blocked after spawn #{blocked_at}"
