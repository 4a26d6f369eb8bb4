"""`policy validate FILE...`: schema and semantic checks, with file:line:col problems."""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

import click

from engine.decision import EXIT_ALLOWED, EXIT_INVALID
from engine.identities import MAX_BYTES, IdentitiesError, parse_identities, unmapped_warnings
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
        for line, warning in unmapped_warnings(policy):
            click.echo(f"{path}:{line}: warning: {warning}", err=True)
        status = max(status, _identities_beside(path, policy))
    return status


def _identities_beside(path: str, policy: dict[str, Any]) -> int:
    """Validate the identities file the policy names, when it lies beside the policy file (the
    layout of an administrator's policy; with --policy-ref it is read from the ref instead)."""
    name = (policy.get("trust") or {}).get("identities")
    if not name:
        return EXIT_ALLOWED
    full = os.path.join(os.path.dirname(os.path.abspath(path)), name)
    try:
        with open(full, "rb") as f:
            data = f.read(MAX_BYTES + 1)
    except OSError:
        return EXIT_ALLOWED  # not beside the policy: it may live in the protected ref
    shown = os.path.join(os.path.dirname(path), name)
    try:
        identities = parse_identities(data, shown)
    except IdentitiesError as exc:
        for problem in exc.problems:
            click.echo(str(problem), err=True)
        return EXIT_INVALID
    click.echo(f"{shown}: valid identities of {len(identities.people)} people")
    return EXIT_ALLOWED
