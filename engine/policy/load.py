"""Read a policy file: YAML with positions, schema validation, semantic checks.

Every problem carries file:line:col, names the offending key or value and says
what is allowed, so `policy validate` output can be acted on without the docs.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from typing import Any

from engine.policy import MAX_PROBLEMS, PolicyError, Problem
from engine.policy.limits import MAX_BYTES, MAX_PATTERNS, MAX_RULES
from engine.policy.patterns import PatternError, compile_patterns
from engine.policy.yamldoc import Document, read

RESERVED_ID_PREFIX = "changegate-"  # built-in rules (engine/rules/records.py) report under such ids


def kind_keys() -> list[str]:
    """The keys that make a rule what it is (deny, deny_paths, require, ...): a rule has exactly one."""
    from engine.rules import kinds

    return list(dict.fromkeys(kind.split(".")[0] for kind in kinds()))


def kind_of(rule: dict[str, Any]) -> str:
    """The registered kind of a schema-valid rule: `deny_paths`, or `require.evidence` for
    require: {evidence: ...}."""
    from engine.rules import kinds

    for kind in kinds():
        if field_value(rule, kind) is not None:
            return kind
    raise ValueError(f"rule {rule.get('id')!r} has none of the keys {', '.join(kinds())}")


def field_value(node: Any, field: str) -> Any:
    """The value at a dotted `field` ("require.evidence", "paths"; "" is `node` itself), or None."""
    for step in field.split(".") if field else ():
        node = node.get(step) if isinstance(node, dict) else None
    return node


def schema_path() -> str:
    """The published JSON Schema (source tree or installed data)."""
    from engine.resources import resource

    return resource("policies", "schema", "policy.schema.json")


def load_schema() -> dict[str, Any]:
    with open(schema_path(), encoding="utf-8") as f:
        schema: dict[str, Any] = json.load(f)
    return schema


def parse_yaml(data: bytes, source: str) -> Document:
    """The policy's data with the line and column of every key and value, within the limits."""
    if len(data) > MAX_BYTES:
        raise PolicyError([Problem(source, 0, 0, f"the policy is larger than the limit of {MAX_BYTES:,} bytes "
                                                 f"({MAX_BYTES >> 20} MiB)")])
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise PolicyError([Problem(source, 0, 0, f"not UTF-8 text ({exc.reason} at byte {exc.start})")]) from None
    return read(text, source)


def position(root: Document, path: Sequence[str | int], *, key: bool = False) -> tuple[int, int]:
    """1-based line/column of the node at `path` (of its key when `key`), or the deepest parent."""
    return root.position(path, key=key)


def describe(path: Sequence[str | int], data: Any) -> str:
    """`rules[2] (id 'protect-main').deny` — where a problem is, in the user's terms."""
    out, node = "", data
    for step in path:
        if isinstance(step, int):
            out += f"[{step}]"
            node = node[step] if isinstance(node, list) and step < len(node) else None
            if isinstance(node, dict) and isinstance(node.get("id"), str):
                out += f" (id {node['id']!r})"
        else:
            out += f".{step}" if out else step
            node = node.get(step) if isinstance(node, dict) else None
    return out or "the policy"


def schema_problems(root: Document, data: Any, source: str, schema: dict[str, Any] | None = None) -> list[Problem]:
    """The schema's complaints (the policy schema, or `schema`), located in the file; past
    MAX_PROBLEMS the rest are not looked for (each costs ~50 us)."""
    problems: list[Problem] = []
    for error in _validator(schema).iter_errors(data):
        problems.extend(_explain(error, root, data, source))
        if len(problems) > MAX_PROBLEMS:
            break
    return problems


def _validator(schema: dict[str, Any] | None = None) -> Any:
    """The schema's validator, with a uniqueItems check that stays linear on hostile lists
    (jsonschema compares every pair of items it cannot sort: quadratic in the list's length)."""
    import jsonschema
    from jsonschema.exceptions import ValidationError

    def unique_items(validator: Any, unique: bool, instance: Any, schema: Any) -> Iterator[ValidationError]:
        if unique and validator.is_type(instance, "array"):
            seen: set[str] = set()
            for item in instance:
                text = json.dumps(item, sort_keys=True)
                if text in seen:
                    yield ValidationError(f"{text[:80]} appears twice")
                    return
                seen.add(text)

    validator = jsonschema.validators.extend(  # type: ignore[no-untyped-call]
        jsonschema.Draft202012Validator, {"uniqueItems": unique_items})
    return validator(schema or load_schema())


def _explain(error: Any, root: Document, data: Any, source: str) -> list[Problem]:
    path = list(error.absolute_path)
    where = describe(path, data)
    schema, value, kind = error.schema, error.instance, error.validator
    line, col = position(root, path)
    if kind == "additionalProperties":
        allowed = ", ".join(sorted(schema.get("properties", {})))
        return [
            Problem(source, *position(root, [*path, k], key=True),
                    f"unknown key {k!r} in {where}; allowed keys: {allowed}")
            for k in value if k not in schema.get("properties", {})
        ]
    if kind == "required":
        missing = [k for k in schema["required"] if k not in value]
        return [Problem(source, line, col, f"{where} is missing required key {k!r}") for k in missing]
    if kind == "oneOf" and isinstance(value, dict) and "id" in schema.get("required", []):
        keys = kind_keys()
        found = ", ".join(k for k in keys if k in value) or "none"
        return [Problem(source, line, col, f"{where} must have exactly one of {', '.join(keys)} (found: {found})")]
    if (kind in ("oneOf", "anyOf") and isinstance(value, dict) and schema.get("description")
            and not any("type" in form or "properties" in form for form in schema[kind])):
        # forms that only say which keys go together (rego: modules or opa): the schema's words say which
        return [Problem(source, line, col, f"{where} is not allowed as written: {schema['description']}")]
    if kind in ("oneOf", "anyOf") and error.context:
        return _explain_branch(error, root, data, source)
    if kind == "enum":
        allowed = ", ".join(str(v) for v in schema["enum"])
        return [Problem(source, line, col, f"{value!r} is not allowed in {where}; allowed: {allowed}")]
    if kind == "const":
        return [Problem(source, line, col, f"{where} must be {schema['const']!r}, not {value!r}")]
    if kind == "type":
        return [Problem(source, line, col,
                        f"{where} must be of type {error.validator_value}, not {type(value).__name__}")]
    if kind == "pattern" and path and path[-1] == "id":
        return [Problem(source, line, col, f"rule id {value!r} may use only lowercase letters, "
                                           "digits, '.', '_' and '-', starting with a letter or digit")]
    if kind in ("pattern", "minLength") and "pattern" in schema and schema.get("description"):
        # a value with a grammar (a duration, a size): the schema's own words say what is allowed
        return [Problem(source, line, col, f"{value!r} in {where} is not allowed: {schema['description']}")]
    if kind in ("minItems", "minLength"):
        return [Problem(source, line, col, f"{where} must not be empty")]
    if kind == "uniqueItems":
        return [Problem(source, line, col, f"{where} lists an item twice")]
    if kind == "maxItems":
        return [Problem(source, line, col, f"{where} has {len(value):,} items: the limit is {schema['maxItems']:,}")]
    if kind == "maxLength":
        return [Problem(source, line, col,
                        f"{where} is {len(value):,} characters long: the limit is {schema['maxLength']:,}")]
    message = error.message if len(error.message) <= 200 else error.message[:200] + "..."
    return [Problem(source, line, col, f"{where}: {message}")]


def _explain_branch(error: Any, root: Document, data: Any, source: str) -> list[Problem]:
    """A value valid under none of a oneOf's forms: the form the user most likely meant, and what
    is wrong with the value in that form ("is not valid under any of the given schemas" helps nobody)."""
    branches: dict[int, list[Any]] = {}
    for sub in error.context:
        branches.setdefault(sub.relative_schema_path[0], []).append(sub)
    index = max(branches, key=lambda i: _likeness(error.schema[error.validator][i], error.instance, branches[i]))
    form = error.schema[error.validator][index]
    name = next((str(step) for step in reversed(error.absolute_path) if isinstance(step, str)), "the value")
    lead = (f"{name} has {len(error.schema[error.validator])} allowed forms; the one most likely meant is "
            f"{_form_name(form)}")
    problems = []
    for sub in branches[index]:
        for problem in _explain(sub, root, data, source):
            problems.append(problem._replace(message=f"{problem.message} ({lead})"))
    return problems


def _likeness(form: dict[str, Any], value: Any, errors: list[Any]) -> tuple[int, int, int]:
    """How well `value` fits a oneOf form: its type, then the keys it shares with the form, then
    the fewest complaints (a form whose type or constant does not even match is the least likely)."""
    shallow = [e for e in errors if not e.relative_path]
    type_ok = not any(e.validator in ("type", "const") for e in shallow)
    shared = len(set(value) & set(form.get("properties", {}))) if isinstance(value, dict) else 0
    required = set(form.get("required", []))
    shared += 2 * len(required & set(value)) if isinstance(value, dict) else 0
    return int(type_ok), shared, -len(errors)


def _form_name(form: dict[str, Any]) -> str:
    """A oneOf form in the user's terms: `{file: ...}`, `a string matching ^refs/`, its description."""
    if "const" in form:
        return f"the constant {form['const']!r}"
    if form.get("type") == "object" and form.get("required"):
        return "{" + ", ".join(f"{k}: ..." for k in form["required"]) + "}"
    name = f"a {form['type']}" if isinstance(form.get("type"), str) else "a value"
    if "pattern" in form:
        name += f" matching {form['pattern']}"
    return name


def semantic_problems(root: Document, data: dict[str, Any], source: str) -> list[Problem]:
    """What the schema cannot say: unique ids, patterns git can match, full ref names, the total
    number of patterns, bypass.rules naming rules that exist."""
    too_many = _too_many_patterns(root, data, source)
    if too_many:
        return [too_many]
    problems: list[Problem] = []
    seen: dict[str, int] = {}
    sources, trust = data.get("sources", {}), data.get("trust")
    for index, rule in enumerate(data.get("rules", [])):
        problems += _requirement_problems(root, rule, index, source, sources=sources, has_trust=trust is not None)
        rid = rule.get("id")
        if isinstance(rid, str) and rid.startswith(RESERVED_ID_PREFIX):
            problems.append(Problem(source, *position(root, ["rules", index, "id"]),
                                    f"rule id {rid!r} is reserved: ids starting with {RESERVED_ID_PREFIX!r} "
                                    "name changegate's built-in checks (e.g. changegate-records)"))
        if rid in seen:
            problems.append(Problem(source, *position(root, ["rules", index, "id"]),
                                    f"duplicate rule id {rid!r} (first used by rules[{seen[rid]}])"))
        elif isinstance(rid, str):
            seen[rid] = index
        problems += _regex_problems(root, rule, index, source)
        for field, patterns in _pattern_fields(rule):
            for i, pattern in enumerate(patterns):
                at = position(root, ["rules", index, *field.split("."), i])
                try:
                    compile_patterns([pattern])
                except PatternError as exc:
                    problems.append(Problem(source, *at, f"rules[{index}].{field}: {exc}"))
                    continue
                if field == "refs" and not pattern.lstrip("!/").startswith("refs/"):
                    problems.append(Problem(
                        source, *at, f"ref pattern {pattern!r} must be a full ref name, "
                                     f"e.g. 'refs/heads/{pattern.lstrip('!/')}' or 'refs/tags/*'"))
    return problems + _bypass_problems(root, data, source, seen)


def _bypass_problems(root: Document, data: dict[str, Any], source: str, ids: dict[str, int]) -> list[Problem]:
    """Every rule `bypass.rules` names exists, and none is a built-in check (never bypassable)."""
    bypass = data.get("bypass")
    if not isinstance(bypass, dict):
        return []
    problems = []
    for index, rid in enumerate(bypass.get("rules", [])):
        at = position(root, ["bypass", "rules", index])
        if rid.startswith(RESERVED_ID_PREFIX):
            problems.append(Problem(source, *at, f"bypass.rules[{index}]: {rid!r} is one of changegate's built-in "
                                                 "checks, which can never be bypassed"))
        elif rid not in ids:
            known = sorted(ids)
            listed = ", ".join(known[:20]) + (f" and {len(known) - 20} more" if len(known) > 20 else "")
            problems.append(Problem(source, *at, f"bypass.rules[{index}]: no rule of this policy has the id {rid!r}; "
                                                 f"its rule ids: {listed}"))
    return problems


def _regex_problems(root: Document, rule: dict[str, Any], index: int, source: str) -> list[Problem]:
    """Regular expressions of the rule's kind (its regex_fields) that RE2 cannot compile."""
    from engine.policy.regex import RegexError, compile_regex
    from engine.rules import kinds

    kind = kind_of(rule)
    problems = []
    for field in kinds()[kind].regex_fields:
        pattern = field_value(rule, f"{kind}.{field}")
        if isinstance(pattern, str):
            try:
                compile_regex(pattern)
            except RegexError as exc:
                problems.append(Problem(source, *position(root, ["rules", index, *kind.split("."), field]),
                                        f"rules[{index}].{kind}.{field}: {exc}"))
    return problems


def _too_many_patterns(root: Document, data: dict[str, Any], source: str) -> Problem | None:
    total = 0
    for index, rule in enumerate(data.get("rules", [])):
        for field, patterns in _pattern_fields(rule):
            total += len(patterns)
            if total > MAX_PATTERNS:
                return Problem(source, *position(root, ["rules", index, *field.split(".")]),
                               f"more than {MAX_PATTERNS:,} patterns in the policy (every rule's refs, when.paths and "
                               f"path patterns together): the limit is {MAX_PATTERNS:,}")
    return None


def _requirement_problems(root: Document, rule: dict[str, Any], index: int, source: str, *,
                          sources: dict[str, Any], has_trust: bool) -> list[Problem]:
    """What a kind needs beyond its schema, as the kind declares it: live checks off the push
    path, the sources it reads configured, a trust file when it checks signatures."""
    from engine.rules import kinds
    from engine.rules.base import parse_params

    kind = kind_of(rule)
    cls = kinds()[kind]
    params = parse_params(cls.Params, field_value(rule, kind))
    where = f"rules[{index}] (id {rule['id']!r})"
    at = position(root, ["rules", index, *kind.split(".")], key=True)
    problems = []
    if cls.live and "push" in rule.get("on", cls.default_stages):
        problems.append(Problem(source, *position(root, ["rules", index, "on"]), (
            f"{where}: a {kind.split('.')[-1]} rule cannot run on push: the push hook never calls external services "
            "(GitHub Enterprise gives all hooks 5 s); use on: [merge, deploy]")))
    problems += [Problem(source, *at, f"{where} reads {name}, but sources.{name} is not configured")
                 for name in dict.fromkeys(cls.sources(params)) if name not in sources]
    if cls.needs_trust(params) and not has_trust:
        problems.append(Problem(source, *at, f"{where} checks signatures, so the policy needs "
                                             "trust: {allowed_signers: PATH} (who may sign)"))
    return problems


def _pattern_fields(rule: dict[str, Any]) -> list[tuple[str, list[Any]]]:
    """(where, patterns) of every pattern list of a rule: refs, when.paths and its kind's fields."""
    from engine.rules import kinds

    fields = ["refs", "when.paths"]
    registry = kinds()
    for key in kind_keys():
        if key in rule:
            kind = next((k for k in registry if field_value(rule, k) is not None), None)
            if kind is not None:
                fields += [".".join(filter(None, (kind, f))) for f in registry[kind].pattern_fields]
    found = [(f, field_value(rule, f)) for f in fields]
    return [(f, value) for f, value in found if isinstance(value, list)]


def load_policy(data: bytes, source: str) -> tuple[Document, dict[str, Any]]:
    """Parse and fully validate: (positioned YAML nodes, plain data), or PolicyError listing every problem."""
    root = parse_yaml(data, source)
    policy = root.data
    if policy is None:
        raise PolicyError([Problem(source, 1, 1, "the policy file is empty; it needs 'version: 1' and 'rules:'")])
    rules = policy.get("rules") if isinstance(policy, dict) else None
    if isinstance(rules, list) and len(rules) > MAX_RULES:  # before the schema, which costs ~50 us a rule
        raise PolicyError([Problem(source, *position(root, ["rules"]),
                                   f"rules has {len(rules):,} items: the limit is {MAX_RULES:,}")])
    problems = schema_problems(root, policy, source)
    if not problems:
        problems = semantic_problems(root, policy, source)
    if problems:
        raise PolicyError(problems)
    assert isinstance(policy, dict)
    return root, policy
