"""engine.git: -z parsing with hostile paths, and parallel diffing equal to one process."""

from __future__ import annotations

import gc
import os
import signal
import time
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
def test_large_push_is_judged_through_the_streamed_log(tmp_path: Path) -> None:
    fast_import(tmp_path / "src.git", 2500, bad_at=1700)
    server = Server(tmp_path, 'version: 1\nname: big\nrules: [{id: no-gguf, deny_paths: ["*.gguf"]}]\n')
    result = git("push", "--porcelain", str(server.path), "main", cwd=tmp_path / "src.git", check=False)
    assert result.code != 0
    assert "adds models/leak.gguf" in result.out
    assert server.rev("main") is None


def _blob_repo(path: Path, contents: list[bytes]) -> str:
    """A bare repository whose main holds b/0, b/1 ... with `contents`; returns main's commit id."""
    stream = bytearray(b"commit refs/heads/main\ncommitter T <t@example.com> 1700000000 +0000\ndata 1\nc\n")
    for n, body in enumerate(contents):
        stream += f"M 100644 inline b/{n}\ndata {len(body)}\n".encode() + body + b"\n"
    git("init", "-q", "--bare", "-b", "main", str(path), cwd=path.parent)
    git("fast-import", "--quiet", cwd=path, stdin=bytes(stream))
    return git("rev-parse", "main", cwd=path).out.strip()


def test_blobs_returns_each_blob_in_order_and_none_for_what_is_not_one(tmp_path: Path) -> None:
    """Contents that look like cat-file headers, an empty blob and a missing path or a tree in
    between must not shift what follows."""
    contents = [b"", b"abc 1 2\n" * 3, b"\n\n", b"0" * 70_000, b"x missing\n", b"\xff\x00 blob 9"]
    head = _blob_repo(tmp_path / "r.git", contents)
    repo = Git(str(tmp_path / "r.git"))
    specs = [f"{head}:b/{n}" for n in range(len(contents))]
    found = repo.blobs([specs[0], f"{head}:b/none", specs[1], f"{head}:b", specs[2], specs[3], "0" * 40,
                        specs[4], specs[5]])
    assert [blob[1] if blob else None for blob in found] == [
        contents[0], None, contents[1], None, contents[2], contents[3], None, contents[4], contents[5]]
    ids = [git("rev-parse", spec, cwd=tmp_path / "r.git").out.strip() for spec in specs]
    assert [blob[0] for blob in found if blob] == ids
    assert repo.blobs(ids) == [(oid, body) for oid, body in zip(ids, contents, strict=True)]


def test_reading_many_blobs_costs_in_proportion_to_their_number(tmp_path: Path) -> None:
    """Ten times the blobs, about ten times the time (twenty allowed for a busy machine): parsing
    cat-file's output once copied the rest of it per blob, so 20,000 blobs took two hundred
    times as long as 2,000 (and the notes of 1,000 trees most of a second)."""
    _blob_repo(tmp_path / "r.git", [f"line {n} of a small file\n".encode() * 8 for n in range(20_000)])
    repo = Git(str(tmp_path / "r.git"))
    listed = git("ls-tree", "-r", "main", cwd=tmp_path / "r.git").out.splitlines()
    ids = [line.split()[2] for line in listed]  # by id: git's own REV:PATH lookups would dominate

    def fastest(count: int) -> float:
        specs = ids[:count]
        spent = []
        for _ in range(3):
            start = time.perf_counter()
            assert len([b for b in repo.blobs(specs) if b]) == count
            spent.append(time.perf_counter() - start)
        return min(spent)

    small, large = fastest(2_000), fastest(20_000)
    assert large < 20 * small, f"2,000 blobs {small:.3f} s, 20,000 blobs {large:.3f} s"


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


@pytest.mark.parametrize("delay", [0.001, 0.005, 0.02, 0.05, 0.1, 0.15, 0.18, 0.2])
def test_an_exception_from_a_signal_handler_kills_and_reaps_every_git_child(tmp_path: Path, delay: float) -> None:
    """The hook's time budget interrupts git work at any point: parallel diff-tree, and rev-list
    streamed into diff-tree processes, included."""
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
                repo.walk(["main"], known=set(oids[:1000]))  # rev-list streamed into diff-tree processes
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
            try:
                signal.setitimer(signal.ITIMER_REAL, 2e-5 * (i % 50 + 1))  # lands anywhere around the spawn
                git_module._wait(git_module._spawn(["true"], dict(os.environ), [devnull] * 3))
            except Stop:
                pass
            while True:  # the timer, or a signal still pending from it, may interrupt any step here
                try:
                    signal.setitimer(signal.ITIMER_REAL, 0)
                    git_module.reap_children()
                    mask = signal.pthread_sigmask(signal.SIG_BLOCK, ())
                    break
                except Stop:
                    pass
            if signal.SIGALRM in mask:
                blocked_at = i
                signal.pthread_sigmask(signal.SIG_UNBLOCK, (signal.SIGALRM, signal.SIGINT))
                break
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
        os.close(devnull)
    assert blocked_at is None, f"SIGALRM left blocked after spawn #{blocked_at}"


def test_output_parsed_while_git_writes_it_equals_the_whole_output_parsed(tmp_path: Path,
                                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    """log() and commits() parse git's output as it arrives: a commit whose entries span many
    reads (3,000 long hostile paths, ~400 KB), commits cut anywhere between reads, and the
    parallel path must give exactly what parsing the whole output at once gives."""
    stream = bytearray()
    for n in range(1, 401):
        stream += f"commit refs/heads/main\ncommitter T <t@example.com> {1_700_000_000 + n} +0000\n".encode()
        stream += b"data 1\nc\n"
        names = ([f"vendor/{'d' * 90}/{k}:\n:{'e' * 20}.bin" for k in range(3000)] if n == 200
                 else [f"src/f{n % 97}.py", f"\n:weird {n}"])
        for name in names:
            quoted = name.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')
            stream += f'M 100644 inline "{quoted}"\ndata 2\n{n % 10}\n\n'.encode()
    path = tmp_path / "r.git"
    git("init", "-q", "--bare", "-b", "main", str(path), cwd=tmp_path)
    git("fast-import", "--quiet", cwd=path, stdin=bytes(stream))
    repo = Git(str(path))
    oids = [oid for oid, _ in repo.rev_list(["main"])]
    whole = git_module.parse_diff_tree(repo.run(*git_module._DIFF_TREE, stdin="".join(f"{o}\n" for o in oids).encode()))
    assert len(whole) == 400 and max(len(c.paths) for c in whole) == 3000
    assert b"vendor/" + b"d" * 90 + b"/7:\n:" + b"e" * 20 + b".bin" in {p.path for c in whole for p in c.paths}
    assert repo.log(["main"]) == whole
    assert repo.commits(oids) == whole
    monkeypatch.setattr(git_module, "PARALLEL_MIN", 50)  # 8 chunks of 50: the parallel, streamed path
    assert repo.commits(oids) == whole


@pytest.mark.parametrize("bad_at", [40, 1900])
def test_a_walk_past_the_single_log_is_finished_by_parallel_diff_tree_and_judged_whole(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, bad_at: int) -> None:
    """Past SMALL_PUSH commits the hook's walk keeps what `git log` parsed and diffs the rest over
    parallel diff-tree processes: a denied path in either part (an old commit, listed after the
    first SMALL_PUSH, or a recent one) is found, and every commit is judged once."""
    from engine.change import Actor, Change, RefUpdate
    from engine.facts import gitfacts
    from engine.facts.gitfacts import GitFacts
    from engine.judge import judge
    from engine.policy.compile import compile_policy

    fast_import(tmp_path / "r.git", 2000, bad_at=bad_at)
    monkeypatch.setattr(gitfacts, "SMALL_PUSH", 300)
    monkeypatch.setattr(git_module, "PARALLEL_MIN", 100)
    repo = Git(str(tmp_path / "r.git"))
    head = repo.ref("refs/heads/main")
    assert head is not None
    policy = compile_policy(b'version: 1\nname: big\nrules: [{id: no-gguf, deny_paths: ["*.gguf"]}]\n', "p.yml")
    change = Change((RefUpdate("0" * 40, head, b"refs/heads/main"),), Actor("ann", "cli", "--actor"), "push")
    facts = GitFacts(repo, change, server_refs=[], policy=policy)
    decision = judge(policy, facts)
    [outcome] = decision.outcomes
    assert outcome.status == "fail" and any("models/leak.gguf" in line for line in outcome.seen)
    [judged] = decision.judged
    assert len(judged.commits) == len(set(judged.commits)) == 2000


def _dag(path: Path, commits: int, seed: int) -> tuple[str, str, str]:
    """A history with merges, several roots, side branches, equal commit dates and children dated
    before their parents (what makes git's walk order hard), its tip on no ref; refs/heads/old at
    a commit a third of the way in. Returns (tip, a commit two thirds of the way in, old)."""
    import random

    rng = random.Random(seed)
    stream = bytearray()
    childless: list[int] = []  # marks of commits nothing names as a parent yet
    for n in range(1, commits + 1):
        root = n in (1, 5 * commits // 6) or rng.random() < 0.002
        if root:
            stream += b"reset refs/heads/incoming\n\n"
        date = 1_700_000_000 + n // 3 - (500 if rng.random() < 0.05 else 0)  # ties, and some clock skew
        stream += f"commit refs/heads/incoming\nmark :{n}\ncommitter T <t@example.com> {date} +0000\n".encode()
        stream += b"data 1\nc\n"
        parents: list[int] = []
        if not root:
            parents.append(n - 1 if rng.random() < 0.9 else rng.randrange(max(1, n - 20), n))  # side branches
            if rng.random() < 0.1:
                parents.append(rng.choice([c for c in childless if c not in parents] or [rng.randrange(1, n)]))
        if n == commits:  # the tip merges every branch left without a child
            parents += [c for c in childless if c not in parents and c != n - 1]
        if parents:
            stream += f"from :{parents[0]}\n".encode() + b"".join(f"merge :{p}\n".encode() for p in parents[1:])
        childless = [c for c in childless if c not in parents] + [n]
        stream += f"M 100644 inline d{n % 7}/f{rng.randrange(30)}.txt\ndata {len(str(n)) + 1}\n{n}\n\n".encode()
    git("init", "-q", "--bare", "-b", "main", str(path), cwd=path.parent)
    marks = path / "marks"
    git("fast-import", "--quiet", f"--export-marks={marks}", cwd=path, stdin=bytes(stream))
    oid = dict(line.split() for line in marks.read_text().splitlines())
    git("update-ref", "refs/heads/old", oid[f":{commits // 3}"], cwd=path)
    git("update-ref", "-d", "refs/heads/incoming", cwd=path)
    return oid[f":{commits}"], oid[f":{2 * commits // 3}"], oid[f":{commits // 3}"]


@pytest.mark.parametrize("seed", [1, 2, 3, 4, 5])
def test_a_walk_past_the_single_log_lists_and_diffs_exactly_what_rev_list_and_diff_tree_give(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, seed: int) -> None:
    """Past SMALL_PUSH, the rest of a walk is listed and diffed in one pipeline (rev-list streamed
    into diff-tree processes, in runs of consecutive commits): every walk (no exclusion, every ref
    excluded, a known commit excluded; a second walk that reuses some or all of the first's
    commits) must give the commits, their order and their parents exactly as rev-list then
    diff-tree do, and the pipeline itself every commit not known, once (the walk's later step
    would quietly diff any it missed)."""
    from engine.change import Actor, Change, RefUpdate
    from engine.facts import gitfacts
    from engine.facts.gitfacts import GitFacts

    tip, mid, old = _dag(tmp_path / "r.git", 400 + 37 * seed, seed)
    repo = Git(str(tmp_path / "r.git"))
    monkeypatch.setattr(gitfacts, "SMALL_PUSH", 50)
    monkeypatch.setattr(git_module, "PARALLEL_MIN", 7)  # runs of 7 and more, the last one short
    monkeypatch.setattr(git_module.os, "cpu_count", lambda: 3)  # two diff-tree processes while listing, then three
    a, b = RefUpdate("0" * 40, mid, b"refs/heads/a"), RefUpdate("0" * 40, tip, b"refs/heads/b")
    for server_refs, updates in (
            (None, (a, b)), ([], (a, b)), ([(b"refs/heads/old", old)], (a, b)),
            ([], (b, a))):  # a's walk then lies within b's: no commit left to diff
        exclude = [oid for _, oid in server_refs or ()]
        facts = GitFacts(repo, Change(updates, Actor("ann", "cli", "--actor"), "push"), server_refs=server_refs)
        facts.prefetch()
        for update in updates:
            walked = repo.rev_list([update.new], exclude=exclude, exclude_all_refs=server_refs is None)
            assert len(walked) > 50 + 3 * 7  # past the single log, and a run for each process
            diffed = {c.oid: c for c in repo.commits([oid for oid, _ in walked])}
            assert facts.commits_for(update, None) == [diffed[oid] for oid, _ in walked]
            assert [(oid, facts._parents[oid]) for oid, _ in walked] == walked
            known = {oid for oid, _ in walked[:51]}  # what the single log parsed
            listed, found = repo.walk([update.new], exclude=exclude, exclude_all_refs=server_refs is None, known=known)
            assert listed == walked
            assert sorted(c.oid for c in found) == sorted(diffed.keys() - known)
            assert all(diffed[c.oid] == c for c in found)
