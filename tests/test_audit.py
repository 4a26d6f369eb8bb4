"""The audit log: concurrent writers neither interleave nor lose records."""

from __future__ import annotations

import json
import multiprocessing
import threading
from pathlib import Path

from engine import audit
from tests.helpers.repos import Clone, Server, git

POLICY = 'version: 1\nname: audit\nrules:\n  - id: no-gguf\n    deny_paths: ["*.gguf"]\n'


def _writer(path: str, writer: int, count: int) -> None:
    for i in range(count):
        audit.append(path, {"writer": writer, "i": i, "padding": "x" * 5000})


def test_concurrent_appends_from_processes_are_whole_lines(tmp_path: Path) -> None:
    path = str(tmp_path / "audit.jsonl")
    procs = [multiprocessing.Process(target=_writer, args=(path, w, 150)) for w in range(4)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(timeout=60)
        assert p.exitcode == 0
    records = audit.read(path)
    assert len(records) == 600
    assert {(r["writer"], r["i"]) for r in records} == {(w, i) for w in range(4) for i in range(150)}


def test_two_concurrent_pushes_are_both_judged_and_recorded(tmp_path: Path) -> None:
    server = Server(tmp_path, POLICY)
    first, second = Clone(tmp_path, server, "one"), Clone(tmp_path, server, "two")
    first.commit("base", "README.md")
    assert first.push("HEAD:refs/heads/main").code == 0
    second.git("pull", "-q", "origin", "main")
    first.commit("ok", "a.txt")
    second.commit("bad", "m.gguf")
    barrier = threading.Barrier(2)
    results = {}

    def push(name: str, clone: Clone, ref: str) -> None:
        barrier.wait()
        results[name] = clone.push(f"HEAD:{ref}")

    threads = [threading.Thread(target=push, args=("one", first, "refs/heads/one")),
               threading.Thread(target=push, args=("two", second, "refs/heads/two"))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert results["one"].code == 0 and results["two"].code != 0
    records = [json.loads(line) for line in server.audit_log.read_text().splitlines()]
    by_ref = {r["updates"][0]["ref"]: r["allowed"] for r in records[1:]}
    assert by_ref == {"refs/heads/one": True, "refs/heads/two": False}
    assert git("rev-parse", "--verify", "-q", "refs/heads/two", cwd=server.path, check=False).code != 0
