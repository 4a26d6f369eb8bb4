"""Every git access of changegate. Nothing else spawns git.

Only the git CLI, with `-z` output; no pygit2 (bench/pygit2_bench.py, 10,000 commits
over 20,000 files): every changegate process starts fresh, and importing pygit2 costs
~80 ms where starting git costs ~1 ms. Listing the changed paths of 10,000 commits takes
~0.6 s through rev-list + parallel diff-tree, ~27 s through pygit2 diffs; for blobs and
notes, pygit2 in a fresh process only gains past thousands of them, more than changegate
reads (the notes of 10,000 trees: ~0.5 s either way).

Inside pre-receive the pushed objects live in a quarantine directory that git
announces through GIT_OBJECT_DIRECTORY / GIT_ALTERNATE_OBJECT_DIRECTORIES; child
git processes inherit those variables and so see the pushed objects.

Processes are started with os.posix_spawn rather than `subprocess`: importing
subprocess costs ~11 ms on a 2-core server, a quarter of the hook's budget.

Every git process sees the objects as stored: replacement objects (`refs/replace/*`,
which a pusher can create) and grafts are switched off through the environment, so no
ref can make git show the hook a clean commit, tree or policy blob in place of the real
one. Refs are looked up by their full name only (`ref()`), never through git's short-name
rules, which would take a pushed `refs/tags/refs/heads/prod` for a missing
`refs/heads/prod`.
"""

from __future__ import annotations

import os

from engine.change import ChangedPath, Commit

TYPE_CHECKING = False
if TYPE_CHECKING:  # collections.abc at run time imports collections: ~2 ms of every push
    from collections.abc import Container, Iterator, Sequence
    from typing import Any

    from engine.change import SignatureTrust

# Variables that would point child processes at another repository or work tree, or make
# git read objects other than the stored ones.
_SCRUB = ("GIT_DIR", "GIT_WORK_TREE", "GIT_INDEX_FILE", "GIT_PREFIX", "GIT_COMMON_DIR",
          "GIT_REPLACE_REF_BASE", "GIT_GRAFT_FILE", "GIT_SHALLOW_FILE")
# Objects as stored: no replacement refs, no grafts (a graft file that cannot exist).
# GIT_FLUSH=0: no flush after every record into a pipe (rev-list, log); changegate reads whole
# outputs, and thousands of tiny reads cost more than the walk itself.
_AS_STORED = {"GIT_NO_REPLACE_OBJECTS": "1", "GIT_GRAFT_FILE": "/dev/null/no-grafts",
              "GIT_TERMINAL_PROMPT": "0", "GIT_FLUSH": "0"}
# One header per commit from diff-tree: oid, tree, parents, author name and email, committer name and email.
_FORMAT = "--format=%H%x00%T%x00%P%x00%an%x00%ae%x00%cn%x00%ce"
_HEADER_FIELDS = 7
_DIFF_TREE = ("diff-tree", "--stdin", "-r", "-z", "--root", "--always", "--no-renames", "--no-abbrev",
              "--diff-merges=first-parent", _FORMAT)
PARALLEL_MIN = 1000  # commits per diff-tree process below which one process is faster
VERIFY_PARALLEL_MIN = 8  # commits per signature-verifying process (each costs ~10 ms of ssh-keygen or gpg)
MAX_JOBS = 4


class GitError(Exception):
    """git failed: the message carries the command and git's own words."""


class Git:
    """A repository, addressed by its git dir, accessed through the git CLI."""

    def __init__(self, git_dir: str) -> None:
        self.git_dir = os.path.abspath(git_dir)
        self._env = git_env()

    @classmethod
    def discover(cls, path: str) -> Git:
        """Open the repository containing `path` (a work tree or a bare repository)."""
        code, out, err = run_process(["git", "-C", path, "rev-parse", "--absolute-git-dir"], git_env(), None)
        if code != 0:
            raise GitError(f"{path} is not a git repository: {_first_line(err)}")
        return cls(out.decode("utf-8", "surrogateescape").rstrip("\n"))

    def run(self, *args: str, stdin: bytes | None = None, ok: Sequence[int] = (0,)) -> bytes:
        """Run git; an exit status outside `ok` raises GitError with git's message."""
        return self.run_status(*args, stdin=stdin, ok=ok)[1]

    def run_status(self, *args: str, stdin: bytes | None = None,
                   ok: Sequence[int] = (0,)) -> tuple[int, bytes]:
        code, out, err = run_process(["git", f"--git-dir={self.git_dir}", *args], self._env, stdin)
        if code not in ok:
            raise GitError(f"git {args[0]} failed ({code}): {_first_line(err)}")
        return code, out

    def resolve(self, rev: str) -> str | None:
        """The commit id a user's revision (`HEAD~2`, `origin/main`) names, or None.

        For what a person types; a ref changegate itself reads goes through ref().
        """
        out = self.run("rev-parse", "--verify", "--quiet", "--end-of-options",
                       f"{rev}^{{commit}}", ok=(0, 1))
        return out.decode("ascii").strip() or None

    def ref(self, name: str | bytes) -> str | None:
        """The object the ref with exactly this full name points at, or None (one spawn).

        for-each-ref takes its argument as a prefix or glob, never through the short-name
        rules; ref names cannot hold glob characters, so the exact match below is the ref.
        """
        raw = name.encode("utf-8", "surrogateescape") if isinstance(name, str) else name
        if not raw.startswith(b"refs/"):
            return None
        out = self.run("for-each-ref", "--format=%(objectname) %(refname)%00", raw.decode("utf-8", "surrogateescape"))
        for item in out.split(b"\0"):
            oid, _, found = item.lstrip(b"\n").partition(b" ")
            if found == raw:
                return oid.decode("ascii")
        return None

    def objects(self, oids: Sequence[str], *, peel: bool = False) -> list[tuple[str, str] | None]:
        """(object id, type) of each object, with `peel` of what it ends in through any chain of
        tags; None where it is missing. One process."""
        if not oids:
            return []
        suffix = "^{}" if peel else ""
        out = self.run("cat-file", "--buffer", "--batch-check=%(objectname) %(objecttype)",
                       stdin="".join(f"{oid}{suffix}\n" for oid in oids).encode("ascii"))
        found: list[tuple[str, str] | None] = []
        for line in out.decode("ascii", "replace").splitlines():
            oid, _, kind = line.partition(" ")
            found.append((oid, kind) if kind in ("commit", "tree", "blob", "tag") else None)  # "<name> missing"
        return found

    def blob_sizes(self, oids: Sequence[str]) -> list[int | None]:
        """The size in bytes of each blob; None where the object is missing or not a blob. One process."""
        if not oids:
            return []
        out = self.run("cat-file", "--buffer", "--batch-check=%(objecttype) %(objectsize)", stdin=_lines(oids))
        sizes: list[int | None] = []
        for line in out.splitlines():
            kind, _, size = line.partition(b" ")  # "<oid> missing" has no second field that is a size
            sizes.append(int(size) if kind == b"blob" and size.isdigit() else None)
        return sizes

    def tree_paths(self, tree: str) -> list[tuple[bytes, str, str]]:
        """(path, mode, object id) of every entry of a tree, recursively (blobs and submodule links),
        paths as raw bytes."""
        out = self.run("ls-tree", "-r", "-z", "--full-tree", tree)
        entries = []
        for item in out.split(b"\0"):
            if item:
                meta, _, path = item.partition(b"\t")  # "<mode> <type> <oid>\t<path>"
                mode, _, oid = meta.decode("ascii").split(" ")
                entries.append((path, mode, oid))
        return entries

    def refs(self) -> list[tuple[bytes, str]]:
        """Every ref with the object it points at, as raw bytes (one spawn)."""
        out = self.run("for-each-ref", "--format=%(objectname) %(refname)%00")
        pairs = []
        for item in out.split(b"\0"):
            item = item.lstrip(b"\n")
            if item:
                oid, _, name = item.partition(b" ")
                pairs.append((name, oid.decode("ascii")))
        return pairs

    def rev_list(self, include: Sequence[str], *, exclude: Sequence[str] = (),
                 exclude_all_refs: bool = False) -> list[tuple[str, tuple[str, ...]]]:
        """(commit, parents) reachable from `include` but not from `exclude` (nor any ref, if asked).

        Exclusions go through stdin so a repository with many refs cannot overflow argv.
        """
        if not include:
            return []
        out = self.run(*_walk("rev-list", include, exclude_all_refs), "--parents",
                       stdin=_negations(exclude))
        return [(line[0], tuple(line[1:])) for line in (raw.split() for raw in out.decode("ascii").splitlines())]

    def log(self, include: Sequence[str], *, exclude: Sequence[str] = (), exclude_all_refs: bool = False,
            limit: int | None = None) -> list[Commit]:
        """Like rev_list with each commit's changed paths, in one process (at most `limit` commits).

        The output is parsed while git is still writing it, so on a large push Python's parsing
        overlaps git's diffing instead of following it, and the whole output is never held at once.
        """
        if not include:
            return []
        argv = ["git", f"--git-dir={self.git_dir}", *_walk("log", include, exclude_all_refs),
                *([f"--max-count={limit}"] if limit is not None else []), "-z", "--raw",
                "--no-abbrev", "--no-renames", "--root", "--diff-merges=first-parent", "--no-ext-diff",
                "--no-color", "--no-show-signature", _FORMAT]
        return self._parsed_while_written([(argv, _negations(exclude))])

    def _parsed_while_written(self, commands: Sequence[tuple[list[str], bytes]]) -> list[Commit]:
        """Run `log --raw -z` style commands (argv, stdin) at the same time and parse their outputs
        as they arrive (a commit once all of it has): their commits, in command order. One poll()
        loop feeds every stdin and drains every stdout and stderr, so no process can block another;
        every process is collected whatever happens. Pipes only: importing tempfile would cost a
        one-commit push more than this saves it."""
        import select

        pids: list[int] = []  # 0: collected
        parsers: list[_CommitParser] = []
        errors: list[list[bytes]] = []
        poller = select.poll()
        role: dict[int, tuple[str, int]] = {}  # open fd -> ("in" | "out" | "err", command index)
        unsent: dict[int, memoryview] = {}
        try:
            for index, (argv, stdin) in enumerate(commands):
                pipes = [os.pipe2(os.O_CLOEXEC) for _ in range(3)]  # the child's ends lose O_CLOEXEC in dup2
                for kind, fd in (("in", pipes[0][1]), ("out", pipes[1][0]), ("err", pipes[2][0])):
                    role[fd] = (kind, index)
                parsers.append(_CommitParser(argv[2]))
                errors.append([])
                try:
                    pids.append(_spawn(argv, self._env, [pipes[0][0], pipes[1][1], pipes[2][1]]))
                finally:
                    for fd in (pipes[0][0], pipes[1][1], pipes[2][1]):
                        os.close(fd)
                os.set_blocking(pipes[0][1], False)
                unsent[pipes[0][1]] = memoryview(stdin)
            for fd, (kind, _) in role.items():
                poller.register(fd, select.POLLOUT if kind == "in" else select.POLLIN)
            with paused_collection():
                self._drain(poller, role, unsent, parsers, errors)
            commits: list[Commit] = []
            for index, pid in enumerate(pids):
                code = _wait(pid)
                pids[index] = 0  # collected: never signal a reused pid
                if code != 0:
                    raise GitError(f"git {parsers[index].command} failed ({code}): "
                                   f"{_first_line(b''.join(errors[index]))}")
                commits += parsers[index].finish()
            return commits
        finally:
            for fd in role:
                os.close(fd)
            for pid in pids:
                if pid:
                    _reap(pid)

    @staticmethod
    def _drain(poller: Any, role: dict[int, tuple[str, int]], unsent: dict[int, memoryview],
               parsers: list[_CommitParser], errors: list[list[bytes]]) -> None:
        """Feed every stdin and drain every stdout (into its parser) and stderr until all are closed;
        each fd is closed and dropped from `role` once done."""
        while role:
            for fd, _ in poller.poll():
                kind, index = role[fd]
                if kind == "in":
                    try:
                        unsent[fd] = unsent[fd][os.write(fd, unsent[fd][:1 << 16]):]
                    except BrokenPipeError:  # the child stopped reading; its exit code will tell
                        unsent[fd] = unsent[fd][:0]
                    if unsent[fd]:
                        continue
                    chunk = b""
                else:
                    chunk = os.read(fd, 1 << 20)
                if chunk:
                    if kind == "out":
                        parsers[index].feed(chunk)
                    else:
                        errors[index].append(chunk)
                    continue
                poller.unregister(fd)
                del role[fd]
                os.close(fd)

    def commits(self, oids: Sequence[str]) -> list[Commit]:
        """Commits with the paths each changed against its first parent (roots included).

        Large lists are split over parallel diff-tree processes: diffing is git's
        single-threaded hot spot on a big push, and in pre-receive the cores are idle
        (index-pack has finished). Each one's output is parsed while it is written, so
        Python's parsing overlaps git's diffing.
        """
        if not oids:
            return []
        jobs = min(os.cpu_count() or 1, MAX_JOBS, len(oids) // PARALLEL_MIN) or 1
        argv = ["git", f"--git-dir={self.git_dir}", *_DIFF_TREE]
        return self._parsed_while_written([
            (argv, _lines(oids[k * len(oids) // jobs:(k + 1) * len(oids) // jobs])) for k in range(jobs)])

    def walk(self, include: Sequence[str], *, exclude: Sequence[str] = (), exclude_all_refs: bool = False,
             known: Container[str] = ()) -> tuple[list[tuple[str, tuple[str, ...]]], list[Commit]]:
        """rev_list, and the commits (as commits() gives them) of what it lists that `known` lacks,
        in one pipeline: rev-list's output is read as it is written and handed on, in runs of
        consecutive commits, to diff-tree processes (one per core, at most MAX_JOBS) that run
        meanwhile, their outputs parsed as they arrive (see _Walk). Listing a huge push so costs
        no phase of its own: rev_list then commits() left a core idle while rev-list walked.

        One poll() loop, no blocking write, so no process can block another; every process is
        collected whatever happens. Each diff-tree must give back exactly the commits it was
        handed, in order, and every commit must have been handed, or GitError: a shorter list
        would judge fewer commits.
        """
        if not include:
            return [], []
        return _Walk(self, known).run(include, exclude, exclude_all_refs)

    def blob_with_id(self, spec: str) -> tuple[str, bytes] | None:
        """(object id, contents) of the blob `spec` (REV:PATH) names, or None; one process."""
        return self.blobs([spec])[0]

    def blobs(self, specs: Sequence[str]) -> list[tuple[str, bytes] | None]:
        """(object id, contents) for each REV:PATH spec that names a blob, else None; one process."""
        if any("\n" in spec for spec in specs):
            raise GitError("a blob name cannot contain a newline")
        if not specs:
            return []
        out = self.run("cat-file", "--buffer", "--batch",
                       stdin="".join(f"{s}\n" for s in specs).encode("utf-8", "surrogateescape"))
        found: list[tuple[str, bytes] | None] = []
        pos = 0  # an offset, never a shrinking copy of `out`: copies made 20,000 blobs take seconds
        for _ in specs:
            end = out.find(b"\n", pos)
            if end < 0:
                end = len(out)
            fields = out[pos:end].split(b" ")
            pos = end + 1
            if len(fields) != 3 or not fields[2].isdigit():  # "<spec> missing" / "ambiguous"
                found.append(None)
                continue
            size = int(fields[2])
            found.append((fields[0].decode("ascii"), out[pos:pos + size]) if fields[1] == b"blob" else None)
            pos += size + 1
        return found

    def commit_objects(self, oids: Sequence[str]) -> list[bytes | None]:
        """The raw bytes of each commit object (headers, a blank line, the message); None where the
        object is missing or not a commit. One process; sizes come from git, so a message holding
        any byte (NUL included) is read exactly."""
        if not oids:
            return []
        out = self.run("cat-file", "--buffer", "--batch", stdin=_lines(oids))
        found: list[bytes | None] = []
        pos = 0
        for _ in oids:
            end = out.find(b"\n", pos)
            if end < 0:
                end = len(out)
            fields = out[pos:end].split(b" ")
            pos = end + 1
            if len(fields) != 3 or not fields[2].isdigit():  # "<oid> missing"
                found.append(None)
                continue
            size = int(fields[2])
            found.append(out[pos:pos + size] if fields[1] == b"commit" else None)
            pos += size + 1
        return found

    def verify_commits(self, oids: Sequence[str], trust: SignatureTrust) -> list[tuple[str, str, str]]:
        """(status, signer, key) of each commit's signature, as git itself verifies it (`%G?`, `%GS`,
        `%GF`) against `trust` only: SSH keys through gpg.ssh.allowedSignersFile set to a temporary
        copy of trust.allowed_signers, GPG keys through a temporary GNUPGHOME holding nothing but
        trust.gpg_keyring (trust-model always: the keyring is the trust decision). Neither the
        server account's own keyring nor its git configuration can add a trusted key. X.509
        signatures are never trusted (their verifier is pointed at a program that does not exist).
        One `git log` for all commits; GitError when git or the keyring import fails."""
        if not oids:
            return []
        import shutil
        import tempfile

        home = tempfile.mkdtemp(prefix="changegate-verify-")
        try:
            signers = os.path.join(home, "allowed_signers")
            with open(signers, "wb") as f:
                f.write(trust.allowed_signers)
            gnupg = os.path.join(home, "gnupg")
            os.mkdir(gnupg, 0o700)
            with open(os.path.join(gnupg, "gpg.conf"), "wb") as f:
                f.write(b"trust-model always\nno-autostart\nno-auto-key-retrieve\nno-auto-key-locate\n")
            env = {**self._env, "GNUPGHOME": gnupg}
            if trust.gpg_keyring:
                keyring = os.path.join(home, "keyring")
                with open(keyring, "wb") as f:
                    f.write(trust.gpg_keyring)
                code, _, err = run_process(["gpg", "--batch", "--quiet", "--no-autostart", "--no-tty",
                                            "--homedir", gnupg, "--import", keyring], env, None)
                if code != 0:
                    raise GitError(f"gpg --import of the trusted keyring failed ({code}): {_first_line(err)}")
            unique = list(dict.fromkeys(oids))
            argv = ["git", f"--git-dir={self.git_dir}", "-c", f"gpg.ssh.allowedSignersFile={signers}",
                    "-c", "gpg.ssh.revocationFile=", "-c", "gpg.ssh.program=ssh-keygen",
                    "-c", "gpg.program=gpg", "-c", "gpg.openpgp.program=gpg", "-c", "gpg.minTrustLevel=undefined",
                    "-c", f"gpg.x509.program={os.path.join(home, 'no-x509-verifier')}",
                    "-c", "log.showSignature=false", "log", "--no-walk=unsorted", "--stdin", "--no-show-signature",
                    "--format=%H%x00%G?%x00%GS%x00%GF%x00"]
            # each commit costs git two ssh-keygen (or one gpg) processes: spread them over the cores
            jobs = min(os.cpu_count() or 1, MAX_JOBS, len(unique) // VERIFY_PARALLEL_MIN) or 1
            chunks = [unique[k * len(unique) // jobs:(k + 1) * len(unique) // jobs] for k in range(jobs)]
            out = b""
            for code, chunk_out, err in run_parallel([(argv, _lines(chunk)) for chunk in chunks], env):
                if code != 0:
                    raise GitError(f"git log (signature verification) failed ({code}): {_first_line(err)}")
                out += chunk_out
        finally:
            shutil.rmtree(home, ignore_errors=True)
        fields = out.split(b"\0")
        if len(fields) != 4 * len(unique) + 1 or fields[-1].strip():
            raise GitError(f"git log (signature verification) gave {len(fields) // 4} record(s) for "
                           f"{len(unique)} commit(s)")
        found: dict[str, tuple[str, str, str]] = {}
        for index, oid in enumerate(unique):
            got, status, signer, key = (f.decode("utf-8", "replace") for f in fields[4 * index:4 * index + 4])
            if got.lstrip("\n") != oid:
                raise GitError(f"git log (signature verification) listed {got.strip()[:12]!r} where {oid[:12]} "
                               "was expected")
            found[oid] = (status, signer, key)
        return [found[oid] for oid in oids]

    def read_blobs(self, wanted: Sequence[tuple[str, int]]) -> Iterator[tuple[str, int, bytes]]:
        """(object id, size, contents) of each (blob id, bytes to keep) asked for, in order, streamed
        from one `git cat-file --batch`: a blob's first `keep` bytes are kept and the rest is read
        and dropped, so memory holds at most one kept blob beyond what the caller keeps. Size -1:
        missing or not a blob. Abandoning the iterator stops git (no process is left behind)."""
        if not wanted:
            return
        if not all(_is_oid(oid) for oid, _ in wanted):
            raise GitError("read_blobs takes full object ids only")
        with _anonymous_file() as request, _anonymous_file() as err:
            request.write(_lines([oid for oid, _ in wanted]))
            request.flush()
            os.lseek(request.fileno(), 0, os.SEEK_SET)
            read_end, write_end = os.pipe2(os.O_CLOEXEC)
            try:
                pid = _spawn(["git", f"--git-dir={self.git_dir}", "cat-file", "--buffer", "--batch"], self._env,
                             [request.fileno(), write_end, err.fileno()])
            except OSError:
                os.close(read_end)
                raise
            finally:
                os.close(write_end)
            stream = _Stream(read_end)
            try:
                record = stream.record
                for oid, keep in wanted:
                    kind, size, data = record(keep)
                    yield (oid, size, data) if kind == b"blob" else (oid, -1, b"")  # size -1: "<oid> missing"
                code, pid = _wait(pid), 0
                if code != 0:
                    err.seek(0)
                    raise GitError(f"git cat-file failed ({code}): {_first_line(err.read())}")
            finally:
                os.close(read_end)
                if pid:
                    _reap(pid)

    def tree_of(self, commit: str) -> str:
        return self.run("rev-parse", "--verify", "--end-of-options", f"{commit}^{{tree}}").decode().strip()

    def append_note(self, notes_ref: str, target: str, line: bytes) -> None:
        """Append one line to the note on `target` (any object; changegate annotates trees)."""
        self.run("notes", f"--ref={notes_ref}", "append", "--allow-empty", "-F", "-", target, stdin=line + b"\n")


def git_env() -> dict[str, str]:
    """The environment of every git process changegate starts (see the module docstring)."""
    env = {k: v for k, v in os.environ.items() if k not in _SCRUB}
    env.update(_AS_STORED)
    return env


def work_tree(path: str) -> str:
    """The top directory of the work tree containing `path`; "" for a bare repository."""
    code, out, _ = run_process(["git", "-C", path, "rev-parse", "--show-toplevel"], git_env(), None)
    return out.decode("utf-8", "surrogateescape").strip() if code == 0 else ""


def _walk(command: str, include: Sequence[str], exclude_all_refs: bool) -> list[str]:
    return [command, "--stdin", *include, *(["--not", "--all"] if exclude_all_refs else [])]


def _negations(exclude: Sequence[str]) -> bytes:
    return "".join(f"^{oid}\n" for oid in exclude).encode("ascii")


def _lines(oids: Sequence[str]) -> bytes:
    return "".join(f"{oid}\n" for oid in oids).encode("ascii")


class paused_collection:  # lower case: read as `with paused_collection():`
    """Python's cyclic garbage collector paused for a block: parsing a large push allocates hundreds
    of thousands of tuples, none in a cycle, and every collection pass would scan them all again
    (80,000 commits: a third to a half of the parse). Reference counting still frees everything."""

    def __enter__(self) -> None:
        import gc

        self._was = gc.isenabled()
        gc.disable()

    def __exit__(self, *exc: object) -> None:
        import gc

        if self._was:
            gc.enable()


class _CommitParser:
    """Commits from one `log --raw -z` style output fed in pieces as git writes it.

    A commit whose end has not arrived yet (100,000 paths) stays open: the entries already
    parsed are kept, and parsing resumes after them, so no entry is parsed twice. What is
    left unparsed (at most the last, cut-short token) is joined with the next pieces once
    they have doubled it.
    """

    def __init__(self, command: str) -> None:
        self.command = command
        self.commits: list[Commit] = []
        self._pending: list[bytes] = []
        self._size = 0
        self._due = 1 << 16
        self._open: _Open | None = None

    def feed(self, chunk: bytes) -> None:
        self._pending.append(chunk)
        self._size += len(chunk)
        if self._size >= self._due:
            tokens = b"".join(self._pending).split(b"\0")
            used, self._open = _parse_tokens(tokens, self.commits, final=False, resume=self._open)
            rest = b"\0".join(tokens[used:])
            self._pending, self._size = [rest], len(rest)
            self._due = max(1 << 16, 2 * self._size)

    def finish(self) -> list[Commit]:
        """The commits, once the output has ended; GitError if it ends in something else."""
        tokens = b"".join(self._pending).split(b"\0")
        used, _ = _parse_tokens(tokens, self.commits, final=True, resume=self._open)
        if any(tokens[used:]):
            raise GitError(f"git {self.command} gave output that is not a commit listing "
                           f"({b'/'.join(tokens[used:used + 2])[:60]!r})")
        return self.commits


def parse_diff_tree(out: bytes) -> list[Commit]:
    """Parse `diff-tree --stdin -z --always --format=...` (or `log -z --raw`) output.

    Per commit: seven NUL-terminated header fields, then raw entries, each
    `:<old mode> <new mode> <old oid> <new oid> <status>` NUL `<path>` NUL (the
    first entry preceded by a newline). Header fields start with a hex id, entries
    with ':', so the two cannot be confused whatever bytes a path holds. With
    --no-renames the status is one letter, the entry's last byte; modes are six
    octal digits and ids full length (--no-abbrev, as long as the commit's id), so
    the new id and mode sit at fixed offsets from the end. Tight loop: 10,000
    commits per push.
    """
    commits: list[Commit] = []
    with paused_collection():
        _parse_tokens(out.split(b"\0"), commits, final=True)
    return commits


# A commit whose entries may go on: its seven header fields and the entries parsed so far.
_Open = tuple[list[bytes], list[ChangedPath]]


def _parse_tokens(tokens: list[bytes], commits: list[Commit], *, final: bool,
                  resume: _Open | None = None) -> tuple[int, _Open | None]:
    """Append the commits `tokens` (NUL-separated fields, see parse_diff_tree) hold to `commits`,
    first finishing `resume`, a commit left open by the previous piece; return the index of the
    first token not used, and the commit left open (None when `final`). Unless `final`, the last
    token may be cut short and more may follow, so a commit is closed only once the next one's
    header shows where it ends."""
    if TYPE_CHECKING:
        from functools import partial
    else:
        from _functools import partial  # functools itself imports collections

    new_path, new_commit = partial(tuple.__new__, ChangedPath), partial(tuple.__new__, Commit)  # no Python frame each
    i = 0
    end = len(tokens) if final else len(tokens) - 1  # the last token may be cut short
    while True:
        if resume is not None:
            header, paths = resume
            resume = None
        elif i + _HEADER_FIELDS <= end and tokens[i]:
            header, paths = tokens[i:i + _HEADER_FIELDS], []
            i += _HEADER_FIELDS
        else:
            return i, None
        oid, tree, parents, name, email, committer_name, committer_email = header
        size = len(oid)
        oid_at, mode_at = -size - 2, -2 * size - 10  # "<new mode> <old oid> <new oid> <status>" ends each entry
        old_at = -2 * size - 3
        while i + 1 < end:
            meta = tokens[i]
            if not (meta[:1] == b":" or meta[:2] == b"\n:"):
                break
            text = meta.decode()
            paths.append(new_path((tokens[i + 1], text[-1], text[oid_at:-2], text[mode_at:mode_at + 6],
                                   text[old_at:oid_at - 1])))
            i += 2
        else:
            if not final:  # the entries may go on in output not read yet
                return i, (header, paths)
        commits.append(new_commit((
            oid.decode(), tree.decode(), tuple(parents.decode().split()),
            name.decode("utf-8", "replace"), email.decode("utf-8", "replace"), tuple(paths),
            committer_name.decode("utf-8", "replace"), committer_email.decode("utf-8", "replace"),
        )))


class _Walk:
    """Git.walk's processes and poll() loop: process 0 is rev-list, the others diff-tree.

    A diff-tree is handed its next run of consecutive commits as soon as its pipe has taken the
    last, so none waits for work and none is promised much ahead. Consecutive, because a jump in
    history costs git its cached delta bases: git/git's history (62,000 commits past the first
    log) in 1,000-commit runs dealt in turn to two processes costs them 4.4 s of CPU, in two
    halves 3.9 s; but halves finish apart (the newer 2.4 s, the older 1.5 s). So while rev-list
    lists, it keeps a core and the other cores' processes take PARALLEL_MIN commits at a time from
    the front; once the listing is complete, each run is a share of what is left (a quarter of it
    with two processes, then a quarter of the rest...), down to PARALLEL_MIN, so all end together.
    """

    def __init__(self, git: Git, known: Container[str]) -> None:
        import select

        self.git = git
        self.known = known
        self.jobs = min(os.cpu_count() or 1, MAX_JOBS)
        self.poller = select.poll()
        self.role: dict[int, tuple[str, int]] = {}  # open fd -> ("in" | "out" | "err", process)
        self.unsent: dict[int, list[memoryview]] = {}  # open stdin -> what is still to be written to it
        self.stdin: list[int] = []  # process -> its stdin (-1 once closed)
        self.pids: list[int] = []  # 0: collected
        self.names: list[str] = []
        self.errors: list[list[bytes]] = []
        self.parsers: list[_CommitParser] = []  # process -> its parser (rev-list's stays unused)
        self.handed: list[list[str]] = []  # process -> the commits handed to it, in order
        self.walked: list[tuple[str, tuple[str, ...]]] = []
        self.todo: list[str] = []  # listed and not known, in walk order
        self.next = 0  # todo[next:] is not handed on yet
        self.rest = b""  # the start of a line not read whole yet
        self.listed_all = False

    def run(self, include: Sequence[str], exclude: Sequence[str],
            exclude_all_refs: bool) -> tuple[list[tuple[str, tuple[str, ...]]], list[Commit]]:
        try:
            self._start([*_walk("rev-list", include, exclude_all_refs), "--parents"], _negations(exclude))
            with paused_collection():
                while self.role:
                    for fd, _ in self.poller.poll():
                        if fd in self.role:  # not closed by another event of this round
                            self._ready(fd)
            return self._collect()
        finally:
            for fd in self.role:
                os.close(fd)
            for pid in self.pids:
                if pid:
                    _reap(pid)

    def _start(self, args: list[str], stdin: bytes) -> int:
        """Start git with `args`, its pipes in the loop; returns its process index."""
        import select

        index = len(self.pids)
        pipes = [os.pipe2(os.O_CLOEXEC) for _ in range(3)]  # the child's ends lose O_CLOEXEC in dup2
        for kind, fd in (("in", pipes[0][1]), ("out", pipes[1][0]), ("err", pipes[2][0])):
            self.role[fd] = (kind, index)
            os.set_blocking(fd, False)  # an event left over from a closed fd must never block the loop
        self.stdin.append(pipes[0][1])
        self.unsent[pipes[0][1]] = []
        self.names.append(args[0])
        self.errors.append([])
        self.parsers.append(_CommitParser(args[0]))
        self.handed.append([])
        try:
            self.pids.append(_spawn(["git", f"--git-dir={self.git.git_dir}", *args], self.git._env,
                                    [pipes[0][0], pipes[1][1], pipes[2][1]]))
        finally:
            for fd in (pipes[0][0], pipes[1][1], pipes[2][1]):
                os.close(fd)
        self.poller.register(pipes[1][0], select.POLLIN)
        self.poller.register(pipes[2][0], select.POLLIN)
        if stdin:
            self.unsent[pipes[0][1]].append(memoryview(stdin))
            self.poller.register(pipes[0][1], select.POLLOUT)
        elif index == 0:
            self._close(pipes[0][1])
        return index

    def _ready(self, fd: int) -> None:
        kind, index = self.role[fd]
        if kind == "in":
            self._write(fd, index)
            return
        try:
            chunk = os.read(fd, 1 << 20)
        except BlockingIOError:
            return
        if not chunk:
            self._close(fd)
            if kind == "out" and index == 0:
                self._listing_ended()
        elif kind == "err":
            self.errors[index].append(chunk)
        elif index == 0:
            self._listing(chunk)
        else:
            self.parsers[index].feed(chunk)

    def _write(self, fd: int, index: int) -> None:
        unsent = self.unsent[fd]
        if not unsent:  # an event left over from an fd closed in the same round
            return
        try:
            written = os.write(fd, unsent[0][:1 << 16])
        except BlockingIOError:
            return
        except BrokenPipeError:  # it stopped reading: its exit status, or what it gave back, tells
            self._close(fd)
            return
        unsent[0] = unsent[0][written:]
        if not unsent[0]:
            del unsent[0]
        if not unsent:
            if index == 0:
                self._close(fd)
            else:
                self._hand_on(index)

    def _close(self, fd: int) -> None:
        kind, index = self.role.pop(fd)
        try:
            self.poller.unregister(fd)
        except KeyError:  # an idle stdin
            pass
        os.close(fd)
        if kind == "in":
            self.stdin[index] = -1
            del self.unsent[fd]

    def _listing(self, chunk: bytes) -> None:
        """Take the whole lines of rev-list's output; start diff-tree processes as work allows."""
        data = self.rest + chunk
        cut = data.rfind(b"\n") + 1
        self.rest = data[cut:]
        if not cut:
            return
        walked, todo, known = self.walked, self.todo, self.known
        try:
            lines = data[:cut].decode("ascii").splitlines()
        except UnicodeDecodeError:
            lines = [""]
        for line in lines:
            fields = line.split(" ")
            oid = fields[0]
            if len(oid) not in (40, 64) or len(line) != len(fields) * (len(oid) + 1) - 1:
                raise GitError(f"git rev-list gave output that is not a commit listing ({line[:60]!r})")
            walked.append((oid, tuple(fields[1:])))
            if oid not in known:
                todo.append(oid)
        # rev-list keeps a core while it lists; a process per further PARALLEL_MIN commits, as commits()
        while len(self.pids) < self.jobs and len(todo) - self.next >= PARALLEL_MIN:
            self._hand_on(self._start(list(_DIFF_TREE), b""))
        for index in range(1, len(self.pids)):
            if self.stdin[index] >= 0 and not self.unsent[self.stdin[index]]:
                self._hand_on(index)

    def _listing_ended(self) -> None:
        self.listed_all = True
        wanted = min(self.jobs, len(self.todo) // PARALLEL_MIN) or (1 if self.todo else 0)
        while len(self.pids) - 1 < wanted:
            self._start(list(_DIFF_TREE), b"")
        for index in range(1, len(self.pids)):
            if self.stdin[index] >= 0 and not self.unsent[self.stdin[index]]:
                self._hand_on(index)

    def _hand_on(self, index: int) -> None:
        """Give diff-tree process `index`, whose pipe has just taken all it was given, the next
        run of commits; close its stdin once there will be none."""
        import select

        fd = self.stdin[index]
        left = len(self.todo) - self.next
        size = max(PARALLEL_MIN, left // (2 * (len(self.pids) - 1))) if self.listed_all else PARALLEL_MIN
        if left >= size or (self.listed_all and left):
            run = self.todo[self.next:self.next + size]
            self.next += len(run)
            self.handed[index] += run
            self.unsent[fd].append(memoryview(_lines(run)))
            self.poller.register(fd, select.POLLOUT)
        elif self.listed_all:
            self._close(fd)
        else:
            try:
                self.poller.unregister(fd)  # until rev-list lists more
            except KeyError:
                pass

    def _collect(self) -> tuple[list[tuple[str, tuple[str, ...]]], list[Commit]]:
        for index, pid in enumerate(self.pids):
            code = _wait(pid)
            self.pids[index] = 0  # collected: never signal a reused pid
            if code != 0:
                raise GitError(f"git {self.names[index]} failed ({code}): {_first_line(b''.join(self.errors[index]))}")
        if self.rest:
            raise GitError(f"git rev-list gave output that is not a commit listing ({self.rest[:60]!r})")
        if self.next != len(self.todo):
            raise GitError(f"git diff-tree was handed {self.next} of {len(self.todo)} commits")
        commits: list[Commit] = []
        for index in range(1, len(self.pids)):
            found = self.parsers[index].finish()
            if [c.oid for c in found] != self.handed[index]:
                raise GitError(f"git diff-tree gave {len(found)} commit(s) for the {len(self.handed[index])} "
                               "it was handed, or others")
            commits += found
        return self.walked, commits


class _Stream:
    """Buffered reads from a pipe: whole lines and counted bytes, never more than 1 MiB ahead."""

    def __init__(self, fd: int) -> None:
        self.fd = fd
        self.buffer = b""
        self.pos = 0

    def _fill(self) -> None:
        chunk = os.read(self.fd, 1 << 20)
        if not chunk:
            raise GitError("git cat-file stopped before answering every request")
        self.buffer = self.buffer[self.pos:] + chunk
        self.pos = 0

    def record(self, keep: int) -> tuple[bytes, int, bytes]:
        """One `cat-file --batch` answer: (type, size, the first `keep` bytes of the contents), the
        contents and the newline after them consumed; size -1 for a "<name> missing" answer. A
        record already in the buffer (the usual case: small blobs) is cut out without copying."""
        buffer, pos = self.buffer, self.pos
        end = buffer.find(b"\n", pos)
        if end >= 0:
            fields = buffer[pos:end].split(b" ")
            if len(fields) != 3 or not fields[2].isdigit():
                self.pos = end + 1
                return b"", -1, b""
            size = int(fields[2])
            if end + size + 2 <= len(buffer):
                self.pos = end + size + 2
                return fields[1], size, buffer[end + 1:end + 1 + min(size, keep)] if keep > 0 else b""
        fields = self.line().split(b" ")
        if len(fields) != 3 or not fields[2].isdigit():
            return b"", -1, b""
        size = int(fields[2])
        return fields[1], size, self.take(size + 1, keep)[:size]  # with the newline after the contents

    def line(self) -> bytes:
        while (end := self.buffer.find(b"\n", self.pos)) < 0:
            self._fill()
        line = self.buffer[self.pos:end]
        self.pos = end + 1
        return line

    def take(self, size: int, keep: int) -> bytes:
        """The next `size` bytes, of which the first `keep` are returned and the rest dropped."""
        end = self.pos + size
        if end <= len(self.buffer):  # the usual case: all of it already read
            data = self.buffer[self.pos:self.pos + min(size, keep)] if keep > 0 else b""
            self.pos = end
            return data
        kept: list[bytes] = []
        while size:
            if self.pos >= len(self.buffer):
                self.buffer, self.pos = b"", 0
                self._fill()
            part = min(size, len(self.buffer) - self.pos)
            if keep > 0:
                kept.append(self.buffer[self.pos:self.pos + min(part, keep)])
                keep -= min(part, keep)
            self.pos += part
            size -= part
        return b"".join(kept)


def _is_oid(text: str) -> bool:
    """A full object id (SHA-1 or SHA-256), never anything git could read as another request."""
    return len(text) in (40, 64) and not text.strip("0123456789abcdef")


_children: set[int] = set()  # started and not yet collected


def _spawn(argv: list[str], env: dict[str, str], fds: list[int]) -> int:
    """Start argv with fds as its stdin, stdout, stderr; SIGPIPE back to default as subprocess does.

    The child is registered before any signal handler can run (SIGALRM, SIGINT are held
    meanwhile), so an exception such as the hook's time budget can never lose its pid.
    """
    if TYPE_CHECKING:
        import signal
    else:
        import _signal as signal  # signal's own module imports enum: ~3 ms of every push

    actions = [(os.POSIX_SPAWN_DUP2, fd, target) for target, fd in enumerate(fds)]
    mask = signal.pthread_sigmask(signal.SIG_BLOCK, ())  # read only: Python runs pending handlers here
    try:
        # Python may run a pending handler *after* blocking (and raise from it): the finally
        # restores the mask then too, or the signals would stay blocked for good.
        signal.pthread_sigmask(signal.SIG_BLOCK, (signal.SIGALRM, signal.SIGINT))
        pid = os.posix_spawnp(argv[0], argv, env, file_actions=actions, setsigdef=(signal.SIGPIPE,),
                              setsigmask=mask)
        _children.add(pid)
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, mask)
    return pid


def _wait(pid: int) -> int:
    _, status = os.waitpid(pid, 0)
    _children.discard(pid)
    return os.waitstatus_to_exitcode(status)


def _reap(pid: int) -> None:
    """Kill and collect a child we stopped waiting for (after an error or an interrupt)."""
    try:
        if os.waitpid(pid, os.WNOHANG) == (0, 0):
            os.kill(pid, 9)
            os.waitpid(pid, 0)
    except ChildProcessError:
        pass
    _children.discard(pid)


def reap_children() -> None:
    """Kill and collect every git process still running: the last step of a hook whose work
    was cut short, so none outlives it."""
    for pid in list(_children):
        _reap(pid)


def _anonymous_file() -> Any:
    """A read-write file with no name, deleted when closed: memfd on Linux, where importing
    tempfile (random, shutil, ...) would cost a push that reads blobs ~9 ms; tempfile elsewhere."""
    if hasattr(os, "memfd_create"):
        return open(os.memfd_create("changegate", os.MFD_CLOEXEC), "w+b")
    import tempfile

    return tempfile.TemporaryFile()


def run_parallel(commands: Sequence[tuple[list[str], bytes]], env: dict[str, str]) -> list[tuple[int, bytes, bytes]]:
    """Run (argv, stdin) commands at the same time: (exit code, stdout, stderr) of each, in order.
    Temporary files rather than pipes, so no child can block on a full pipe; all are collected."""
    if len(commands) == 1:
        return [run_process(commands[0][0], env, commands[0][1])]
    import tempfile

    running: list[tuple[int, list[Any]]] = []
    try:
        for argv, stdin in commands:
            files = [tempfile.TemporaryFile() for _ in range(3)]  # stdin, stdout, stderr
            running.append((0, files))
            files[0].write(stdin)
            files[0].flush()
            os.lseek(files[0].fileno(), 0, os.SEEK_SET)
            running[-1] = (_spawn(argv, env, [f.fileno() for f in files]), files)
        results = []
        for index, (pid, (_, out, err)) in enumerate(running):
            code = _wait(pid)
            running[index] = (0, running[index][1])  # collected: never signal a reused pid
            out.seek(0)
            err.seek(0)
            results.append((code, out.read(), err.read()))
        return results
    finally:
        for pid, files in running:
            if pid:
                _reap(pid)
            for f in files:
                f.close()


def run_process(argv: list[str], env: dict[str, str], stdin: bytes | None) -> tuple[int, bytes, bytes]:
    """Run argv to completion: (exit code, stdout, stderr). Feeds stdin and drains both outputs
    together through poll(), so no pipe can fill up and block the child."""
    import select

    pipes = [os.pipe2(os.O_CLOEXEC) for _ in range(3)]  # the child's ends lose O_CLOEXEC in dup2
    try:
        pid = _spawn(argv, env, [pipes[0][0], pipes[1][1], pipes[2][1]])
    except OSError:
        for r, w in pipes:
            os.close(r)
            os.close(w)
        raise
    to_child, out_fd, err_fd = pipes[0][1], pipes[1][0], pipes[2][0]
    for fd in (pipes[0][0], pipes[1][1], pipes[2][1]):
        os.close(fd)
    output: dict[int, list[bytes]] = {out_fd: [], err_fd: []}
    pending = memoryview(stdin or b"")
    poller = select.poll()
    open_fds = {out_fd, err_fd}
    for fd in open_fds:
        poller.register(fd, select.POLLIN)
    if pending:
        os.set_blocking(to_child, False)
        poller.register(to_child, select.POLLOUT)
        open_fds.add(to_child)
    else:
        os.close(to_child)
    try:
        while open_fds:
            for fd, _ in poller.poll():
                if fd == to_child:
                    try:
                        pending = pending[os.write(fd, pending[:1 << 16]):]
                    except BrokenPipeError:  # the child stopped reading; its exit code will tell
                        pending = pending[:0]
                    if not pending:
                        poller.unregister(fd)
                        os.close(fd)
                        open_fds.discard(fd)
                    continue
                chunk = os.read(fd, 1 << 20)
                if chunk:
                    output[fd].append(chunk)
                else:
                    poller.unregister(fd)
                    os.close(fd)
                    open_fds.discard(fd)
        code, pid = _wait(pid), 0
        return code, b"".join(output[out_fd]), b"".join(output[err_fd])
    finally:
        for fd in open_fds:
            os.close(fd)
        if pid:
            _reap(pid)


def _first_line(stderr: bytes) -> str:
    text = stderr.decode("utf-8", "replace").strip()
    return text.splitlines()[0] if text else "no message"
