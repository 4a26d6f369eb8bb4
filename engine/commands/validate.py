"""`policy validate FILE...`: schema and semantic checks, with file:line:col problems."""

from __future__ import annotations

from collections.abc import Sequence

import click

from engine.decision import EXIT_ALLOWED, EXIT_INVALID
from engine.policy import PolicyError
from engine.policy.compile import compile_policy
from engine.policy.source import from_file


def validate(paths: Sequence[str]) -> int:
    status = EXIT_ALLOWED
    for path in paths:
        try:
            policy = compile_policy(from_file(path).data, path)
        except PolicyError as exc:
            click.echo(str(exc), err=True)
            status = EXIT_INVALID
            continue
        click.echo(f"{path}: valid policy {policy['name']!r} with {len(policy['rules'])} rules")
    return status
