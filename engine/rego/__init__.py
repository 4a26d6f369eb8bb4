"""Rego: policies written in OPA's language, judged in-process (regopy) or on an OPA server.

`engine.rego.embedded` evaluates modules with regopy (rego-cpp) and runs their `test_*`
rules; `engine.rego.input` builds the input document a change is judged on (published as
policies/schema/rego-input.schema.json); `engine.rego.verdict` reads conftest-style
`deny`/`warn` results; `engine.rego.opa` asks an OPA server through opa-python-client.
The rule kind is engine/rules/rego.py. Nothing here imports regopy or the OPA client
until a rule asks (the push hook's start-up cost matters).
"""

from __future__ import annotations

from engine.rego.embedded import Module, RegoError, TestResult, evaluate, run_tests

__all__ = ["Module", "RegoError", "TestResult", "evaluate", "run_tests"]
