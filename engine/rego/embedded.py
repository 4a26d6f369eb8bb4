"""Rego evaluated in-process with regopy (rego-cpp): no OPA server, no subprocess.

regopy 1.5's `Interpreter.query` wraps a failed query's NULL output and crashes the
process when that output is read, and rego-cpp prints parse errors on stdout unless
its log level is lowered (a hook's stdout reaches the pusher). So this module talks to
regopy's thin C bindings (`regopy.rego_shared`) itself: every query's output is
checked before it is read, errors are collected from the error nodes and located as
FILE:LINE:COL, and nothing is printed.

Built-in function errors are strict (a `sprintf` with the wrong argument type, a
division by zero): OPA's default turns them into an undefined rule body, which for a
`deny` rule would silently allow. Here they are errors, and errors deny.
"""

from __future__ import annotations

import json
import re

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Sequence
    from typing import Any, NamedTuple, TypeVar

    _T = TypeVar("_T")
else:
    from engine.lighttuple import NamedTuple

# Bounds on what one rule hands the interpreter: the modules and data files it names.
MAX_SOURCE_BYTES = 1 << 20  # all modules and data files of a rule together, 1 MiB


class Module(NamedTuple):
    """One Rego source file: `name` is how errors name it (REF:PATH, or a path on disk)."""

    name: str
    source: str


class TestResult(NamedTuple):
    """One `test_*` rule of a module set, run like `opa test` runs it."""

    name: str  # data.<package>.<rule>
    passed: bool
    message: str  # "passed"; or why not: "false", "undefined", or the evaluation error


class RegoError(Exception):
    """The modules do not compile, or evaluating the query failed; each problem is one line,
    located as FILE:LINE:COL where rego-cpp says where."""

    def __init__(self, problems: Sequence[str]) -> None:
        self.problems = tuple(problems) or ("rego-cpp reported an error without a message",)
        super().__init__("; ".join(self.problems))


class _Undefined:
    """The result of a query whose document does not exist (OPA omits `result`)."""

    def __repr__(self) -> str:
        return "UNDEFINED"


UNDEFINED: Any = _Undefined()


def evaluate(modules: Sequence[Module], query: str, input_json: str, *, data: Sequence[str] = ()) -> Any:
    """The JSON value of `query` (e.g. data.changegate) over `modules`, `data` (JSON object
    texts merged into `data`) and the input (a JSON text); UNDEFINED if the query names
    nothing. RegoError if a module does not compile or evaluation fails."""
    def work() -> Any:
        with _Interpreter(modules, data) as rego:
            rego.set_input(input_json)
            return rego.query(query)

    return _interruptible(work)


def run_tests(modules: Sequence[Module], *, data: Sequence[str] = ()) -> list[TestResult]:
    """Run every `test_*` rule of `modules`, as `opa test` does: a test passes when it is
    true, fails when it is false, undefined or errs. Tests are found by their rule heads at
    the start of a line (as `opa fmt` writes them); `todo_test_*` rules are skipped. A module
    that does not compile raises RegoError: no test of the set can run."""
    tests = [(package, rule) for module in modules for package, rule in _tests_in(module.source)]
    return _interruptible(lambda: _run(modules, data, tests))


def _run(modules: Sequence[Module], data: Sequence[str], tests: list[tuple[str, str]]) -> list[TestResult]:
    results: list[TestResult] = []
    with _Interpreter(modules, data) as rego:
        for package, rule in dict.fromkeys(tests):
            name = f"data.{package}.{rule}"
            try:
                value = rego.query(name)
            except RegoError as exc:
                results.append(TestResult(name, False, f"error: {exc}"))
                continue
            if value is True:
                results.append(TestResult(name, True, "passed"))
            else:
                results.append(TestResult(name, False, "undefined" if value is UNDEFINED else
                                          f"{json.dumps(value)[:200]} (a test passes only when true)"))
    return results


def _interruptible(work: Callable[[], _T]) -> _T:
    """Run `work` in a daemon thread and wait for it. rego-cpp evaluates in C with the GIL
    released, where Python cannot run a signal handler: a slow policy would hold the push
    hook past its time budget (SIGALRM). Waiting here can be interrupted; the abandoned
    evaluation ends with the process."""
    import threading

    box: dict[str, Any] = {}

    def run() -> None:
        try:
            box["value"] = work()
        except BaseException as exc:  # noqa: BLE001 - handed to the waiting thread as it is
            box["error"] = exc

    thread = threading.Thread(target=run, name="rego", daemon=True)
    thread.start()
    thread.join()
    if "error" in box:
        raise box["error"]
    value: _T = box["value"]
    return value


_PACKAGE = re.compile(r"^package\s+([A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*)\s*(?:#.*)?$", re.M)
_TEST = re.compile(r"^(test_[A-Za-z0-9_]*)\b", re.M)


def _tests_in(source: str) -> list[tuple[str, str]]:
    package = _PACKAGE.search(source)
    if package is None:
        return []
    return [(package.group(1), m.group(1)) for m in _TEST.finditer(source)]


class _Interpreter:
    """One rego-cpp interpreter holding the modules and data; freed on exit."""

    def __init__(self, modules: Sequence[Module], data: Sequence[str]) -> None:
        from regopy import rego_shared

        self._rs = rego_shared
        self._modules = {m.name: m.source for m in modules}
        self._impl = rego_shared.rego_new()
        try:
            rego_shared.rego_set_log_level(self._impl, rego_shared.LogLevel.NONE)  # nothing on stdout
            rego_shared.rego_set_strict_builtin_errors(self._impl, True)
            for module in modules:
                try:
                    rego_shared.rego_add_module(self._impl, module.name, module.source)
                except rego_shared.RegoError as exc:
                    raise RegoError(_located(str(exc.args[0]), self._modules)) from None
            for text in data:
                try:
                    rego_shared.rego_add_data_json(self._impl, text)
                except rego_shared.RegoError as exc:
                    raise RegoError(_located(str(exc.args[0]), self._modules)) from None
        except BaseException:
            self.close()
            raise

    def __enter__(self) -> _Interpreter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        if self._impl:
            self._rs.rego_free(self._impl)
            self._impl = None

    def set_input(self, input_json: str) -> None:
        try:
            self._rs.rego_set_input_term(self._impl, input_json)
        except self._rs.RegoError as exc:
            raise RegoError(["the input document was rejected: " + str(exc.args[0])[:300]]) from None

    def query(self, query: str) -> Any:
        import ctypes

        rs = self._rs
        output = rs.rego.regoQuery(self._impl, ctypes.create_string_buffer(query.encode("utf-8")))
        if not output:  # regopy itself would wrap this NULL and crash on reading it
            raise RegoError(_located(rs.rego_get_error(self._impl), self._modules))
        try:
            if not rs.rego_output_ok(output):
                raise RegoError(self._errors(rs.rego_output_node(output)))
            text = rs.rego_output_string(output)
        finally:
            rs.rego_free_output(output)
        if text == "undefined":
            return UNDEFINED
        results = json.loads(text)
        if isinstance(results, list):  # several results: a query that binds variables; not ours
            raise RegoError([f"the query {query} has {len(results)} results; name one document, e.g. data.changegate"])
        expressions = results.get("expressions", [])
        return expressions[0] if expressions else UNDEFINED

    def _errors(self, node: Any) -> list[str]:
        """The messages of an error sequence: each error's message and code."""
        rs = self._rs
        problems = []
        for i in range(rs.rego_node_size(node)):
            error = rs.rego_node_get(node, i)
            message, code = "", ""
            for j in range(rs.rego_node_size(error)):
                child = rs.rego_node_get(error, j)
                kind = int(rs.rego.regoNodeType(child))
                if kind == rs.NodeKind.ErrorMessage:
                    message = rs.rego_node_value(child)
                elif kind == rs.NodeKind.ErrorCode:
                    code = rs.rego_node_value(child)
            problems.append(f"{message} ({code})" if code else message)
        return problems or ["evaluation failed without a message"]


_LENGTH = re.compile(r"(\d+):")
_SPAN = re.compile(r"\|(\d+)\|(\d+)")


def _located(text: str, sources: dict[str, str]) -> list[str]:
    """rego-cpp's error S-expression, `(error 6:a.rego|31|1 (errormsg 16:this is unclosed) ...)`,
    as `a.rego:2:22: this is unclosed` lines; other text as it is (one line, bounded)."""
    problems = []
    start = text.find("(error ")
    while start >= 0:
        at = start + len("(error ")
        where = ""
        name = _LENGTH.match(text, at)
        if name:
            file = text[name.end():name.end() + int(name.group(1))]
            span = _SPAN.match(text, name.end() + int(name.group(1)))
            where = f"{file}:{_line_col(sources.get(file, ''), int(span.group(1)))}: " if span else f"{file}: "
        found = text.find("(errormsg ", at)
        length = _LENGTH.match(text, found + len("(errormsg ")) if found >= 0 else None
        if length is None:
            break
        problems.append(where + text[length.end():length.end() + int(length.group(1))])
        start = text.find("(error ", length.end() + int(length.group(1)))
    if problems:
        return problems
    return [" ".join(text.split())[:300] or "rego-cpp reported an error without a message"]


def _line_col(source: str, offset: int) -> str:
    """LINE:COL (1-based) of a byte offset into `source`."""
    raw = source.encode("utf-8")[:offset]
    line = raw.count(b"\n") + 1
    col = len(raw) - (raw.rfind(b"\n") + 1) + 1
    return f"{line}:{col}"
