"""Who is pushing, read from the git server's hook environment.

Each server sets a group of variables of its own around a push (its markers; the
documented or observed set below). The server is the one whose markers are ALL set,
and the pusher is read from that server's variable only, so one server's variable
can never override another's pusher:

* exactly one server's markers complete: that server;
* several complete: the server cannot be told, and doubt denies (ServerError);
* none complete, but some server's pusher variable is set: doubt denies too (a
  partial set is not what any server we know produces);
* none at all: plain git, the pusher is the local user the hook runs as.

An administrator who knows the server pins it at install (`policy hook install
--server KIND`, stored in the hook config): then only that server's pusher variable
is read, and a missing one fails closed. The variable the name came from is recorded,
so an audit can tell how we knew.
"""

from __future__ import annotations

import os

from engine.change import Actor

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Mapping

# (kind, the variable naming the pusher, the variables that server sets on every push).
SERVERS: tuple[tuple[str, str, tuple[str, ...]], ...] = (
    # GitHub Enterprise Server: "always available" to pre-receive hooks
    ("github-enterprise", "GITHUB_USER_LOGIN",
     ("GITHUB_USER_LOGIN", "GITHUB_REPO_NAME", "GITHUB_REPO_PUBLIC", "GITHUB_USER_IP")),
    # GitLab server hooks (Gitaly)
    ("gitlab", "GL_USERNAME", ("GL_ID", "GL_USERNAME", "GL_REPOSITORY", "GL_PROTOCOL", "GL_PROJECT_PATH")),
    # Gitolite 3 (gitolite-shell), as observed in a repository hook of Debian's gitolite3
    ("gitolite", "GL_USER", ("GL_USER", "GL_REPO", "GL_BINDIR", "GL_LIBDIR", "GL_ADMIN_BASE", "GL_REPO_BASE")),
    # Gitea and Forgejo (same names): SSH, HTTP and internal pushes
    ("gitea", "GITEA_PUSHER_NAME",
     ("GITEA_PUSHER_NAME", "GITEA_PUSHER_ID", "GITEA_REPO_NAME", "GITEA_REPO_USER_NAME", "GITEA_REPO_IS_WIKI")),
)
PLAIN = "git"
KINDS = (PLAIN, *(kind for kind, _, _ in SERVERS))
PIN_HINT = "policy hook install --server " + "|".join(KINDS)


class ServerError(Exception):
    """Who is pushing cannot be told from the environment: the push is rejected (doubt denies)."""


def detect_actor(env: Mapping[str, str], *, pinned: str | None = None) -> Actor:
    """The pusher, by the server's own markers (or the pinned server's variable only)."""
    if pinned:
        return _pinned(env, pinned)
    complete = [(kind, variable) for kind, variable, markers in SERVERS
                if env.get(variable) and all(m in env for m in markers)]
    if len(complete) == 1:
        kind, variable = complete[0]
        return Actor(env[variable], kind, variable)
    if complete:
        claims = "; ".join(f"{kind} says {env[variable]!r} ({variable})" for kind, variable in complete)
        raise ServerError(f"cannot tell which git server runs this hook: the variables of "
                          f"{' and '.join(k for k, _ in complete)} are all set ({claims}); "
                          f"an administrator pins the server: {PIN_HINT}")
    partial = [(kind, variable, [m for m in markers if m not in env]) for kind, variable, markers in SERVERS
               if env.get(variable)]
    if partial:
        what = "; ".join(f"{variable} names {env[variable]!r}, but {kind}'s {', '.join(missing)} "
                         f"{'is' if len(missing) == 1 else 'are'} not set" for kind, variable, missing in partial)
        raise ServerError(f"cannot tell who is pushing: {what}; an administrator pins the server: {PIN_HINT}")
    return _local_user()


def _pinned(env: Mapping[str, str], kind: str) -> Actor:
    if kind == PLAIN:
        return _local_user()
    variable = next((v for k, v, _ in SERVERS if k == kind), None)
    if variable is None:
        raise ServerError(f"the hook is pinned to an unknown server {kind!r}; reinstall it: {PIN_HINT}")
    name = env.get(variable)
    if not name:
        raise ServerError(f"the hook is pinned to {kind}, but {variable} (the pusher) is not set: "
                          f"is this repository served by {kind}?")
    return Actor(name, kind, variable)


def _local_user() -> Actor:
    import pwd

    try:
        return Actor(pwd.getpwuid(os.geteuid()).pw_name, PLAIN, "uid")
    except KeyError:
        return Actor(str(os.geteuid()), PLAIN, "uid")
