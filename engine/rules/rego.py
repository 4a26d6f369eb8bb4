"""`rego: {modules: [...], query: data.changegate}` or `rego: {opa: {path: changegate/deny}}`:
a policy written in Rego judges the change.

The input document is the change as engine/rego/input.py builds it (published as
policies/schema/rego-input.schema.json), with the outcomes of the policy's other rules:
rego rules are judged after them (engine/judge.py). The result is read with conftest's
conventions (engine/rego/verdict.py): `deny`/`violation` messages fail the rule, `warn`
messages make it a warning, each shown with the rule's id.

Embedded (default): the modules and JSON data files are read from the policy's trust
domain (the protected ref's value the policy came from, or beside the administrator's
policy file; never from the change) and evaluated in-process with regopy.
On an OPA server: `sources.opa` names it and `opa.path` the document to ask for; the
server's decision id is kept in the outcome (the audit log records it). OPA answers in
milliseconds, so this rule may run on push; the request is bounded by sources.opa.timeout
(default 2 s) and the hook's time budget.

Anything that keeps the policy from giving a verdict (a missing or invalid module, an
evaluation error, an undefined query, a server that does not answer or answers badly) is
an error that denies unless `on_error` says allow or warn.
"""

from __future__ import annotations

from engine.change import RefUpdate
from engine.decision import Outcome
from engine.rules.base import Rule

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Literal, NamedTuple

    from engine.facts.interface import Facts
    from engine.rego.verdict import Message
else:
    from engine.lighttuple import NamedTuple

DEFAULT_QUERY = "data.changegate"


class RegoParams(NamedTuple):
    modules: tuple[str, ...] | None = None  # files of the policy's trust domain
    data: tuple[str, ...] | None = None  # JSON files merged into `data`
    query: str = DEFAULT_QUERY
    opa: dict[str, str] | None = None  # {path: changegate/deny}
    on_error: Literal["deny", "allow", "warn"] = "deny"


class RegoRule(Rule):
    kind = "rego"
    Params = RegoParams
    params: RegoParams
    reads_outcomes = True

    @classmethod
    def sources(cls, params: RegoParams) -> tuple[str, ...]:
        return ("opa",) if params.opa else ()

    def evaluate(self, facts: Facts, updates: list[RefUpdate]) -> Outcome:
        import json

        from engine.rego.input import InputTooLarge, input_document

        try:
            document = input_document(facts, updates, refs=self.refs, earlier=self.earlier)
        except InputTooLarge as exc:  # a cap: doubt denies, whatever on_error says
            return self.outcome("fail", f"{exc}: the Rego policy cannot judge it", required=self._required(facts),
                                fix="push the change in smaller parts")
        if self.params.opa:
            return self._server(facts, document)
        return self._embedded(facts, json.dumps(document, ensure_ascii=True))

    # --- embedded ---

    def _embedded(self, facts: Facts, input_json: str) -> Outcome:
        from engine.rego.embedded import MAX_SOURCE_BYTES, UNDEFINED, Module, RegoError, evaluate

        p = self.params
        required = self._required(facts)
        sources: list[tuple[str, str]] = []
        total = 0
        for path in (*(p.modules or ()), *(p.data or ())):
            where = facts.trusted_location(path)
            raw = facts.trusted_file(path)
            if raw is None:
                return self._error(f"{where} does not exist", required,
                                   "commit it to the protected ref (or put it beside the policy file), or fix the "
                                   "rule's modules/data")
            total += len(raw)
            if total > MAX_SOURCE_BYTES:
                return self._error(f"the rule's modules and data files are larger than the limit of "
                                   f"{MAX_SOURCE_BYTES:,} bytes together (at {where})", required,
                                   "split the policy into several rego rules")
            try:
                sources.append((where, raw.decode("utf-8")))
            except UnicodeDecodeError:
                return self._error(f"{where} is not UTF-8 text", required, "save it as UTF-8")
        count = len(p.modules or ())
        modules = [Module(where, text) for where, text in sources[:count]]
        data = sources[count:]
        problem = _data_problem(data)
        if problem:
            return self._error(problem, required, "make each data file one JSON object")
        try:
            value = evaluate(modules, p.query, input_json, data=[text for _, text in data])
        except RegoError as exc:
            return self._error(f"the Rego policy could not be evaluated: {exc.problems[0]}", required,
                               "fix the module (the line and column are given); `policy test` runs its tests",
                               seen=list(exc.problems))
        if value is UNDEFINED:
            return self._error(f"{p.query} is undefined: no package or rule of the modules has that name", required,
                               "make the query name the modules' package (package changegate is data.changegate)")
        return self._read(value, p.query.rsplit(".", 1)[-1], required, "")

    # --- OPA server ---

    def _server(self, facts: Facts, document: dict[str, Any]) -> Outcome:
        from engine.rego.embedded import UNDEFINED
        from engine.rego.opa import OpaError

        assert self.params.opa is not None
        path = self.params.opa["path"]
        required = self._required(facts)
        try:
            decision = facts.opa().decide(path, document)
        except OpaError as exc:
            fix = ("fix sources.opa in the policy (url, timeout, token_env)" if exc.kind == "config" else
                   "check that the OPA server at sources.opa is up and serves the policy at the rule's opa.path, "
                   "then push again; the rule's on_error decides what an unanswered check does")
            return self._error(f"OPA {exc.kind}: {exc.message}", required, fix)
        if decision.result is UNDEFINED:
            return self._error(f"the OPA document {path} is undefined (the server has no such package or rule)",
                               required, "load the policy into the OPA server, or fix the rule's opa.path",
                               decision_id=decision.decision_id)
        return self._read(decision.result, path.rsplit("/", 1)[-1], required, decision.decision_id)

    # --- verdicts ---

    def _read(self, value: Any, name: str, required: str, decision_id: str) -> Outcome:
        from engine.rego.verdict import ResultError, read_result

        try:
            denials, warnings = read_result(value, name)
        except ResultError as exc:
            return self._error(f"the Rego policy's result cannot be read: {exc}", required,
                               "return deny/warn sets of messages (conftest's conventions)", decision_id=decision_id)
        seen = [_line(m) for m in (*denials, *warnings)]
        if decision_id:
            seen.append(f"OPA decision id {decision_id}")
        paths = [m.path for m in (*denials, *warnings) if m.path]
        if denials:
            outcome = self.outcome("fail", _summary(denials, "denial"), seen=seen, required=required, paths=paths,
                                   fix="change what the Rego policy's messages name, then push again")
        elif warnings:
            outcome = self.outcome("warn", _summary(warnings, "warning"), seen=seen, required=required, paths=paths)
        else:
            outcome = self.outcome("pass", f"no deny or warn message from {self._where()}", seen=seen,
                                   required=required)
        return outcome._replace(decision_id=decision_id)

    def _error(self, message: str, required: str, fix: str, *, seen: list[str] | None = None,
               decision_id: str = "") -> Outcome:
        outcome = self.by_action(self.params.on_error, message, seen=seen, required=required, fix=fix, error=True)
        return outcome._replace(decision_id=decision_id)

    def _where(self) -> str:
        if self.params.opa:
            return f"OPA document {self.params.opa['path']}"
        return self.params.query

    def _required(self, facts: Facts) -> str:
        if self.params.opa:
            return f"no deny message from the OPA document {self.params.opa['path']}"
        modules = ", ".join(facts.trusted_location(m) for m in self.params.modules or ())
        return f"no deny message from {self.params.query} ({modules})"


def _summary(messages: list[Message], noun: str) -> str:
    if len(messages) == 1:
        return messages[0].text
    return f"{len(messages)} {noun}s: " + "; ".join(m.text for m in messages[:3]) + ("; ..." if len(messages) > 3
                                                                                      else "")


def _line(message: Message) -> str:
    return f"{message.rule}: {message.text}" + (f" ({message.path})" if message.path else "")


def _data_problem(data: list[tuple[str, str]]) -> str:
    import json

    for where, text in data:
        try:
            value = json.loads(text)
        except ValueError as exc:
            return f"the data file {where} is not JSON: {exc}"
        if not isinstance(value, dict):
            return f"the data file {where} is not a JSON object"
    return ""
