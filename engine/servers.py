"""Who is pushing, read from the git server's hook environment.

Each server announces the authenticated pusher in its own variable; the first
one present wins, and the variable is recorded so an audit can tell how we knew.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

from engine.change import Actor

# (server kind, variable) in precedence order. GitLab sets GL_USERNAME (and GL_ID),
# Gitolite GL_USER; Forgejo keeps Gitea's variable names.
SERVERS = (
    ("github-enterprise", "GITHUB_USER_LOGIN"),
    ("gitlab", "GL_USERNAME"),
    ("gitolite", "GL_USER"),
    ("gitea", "GITEA_PUSHER_NAME"),
)


def detect_actor(env: Mapping[str, str]) -> Actor:
    for server, variable in SERVERS:
        name = env.get(variable)
        if name:
            return Actor(name, server, variable)
    import pwd

    try:
        return Actor(pwd.getpwuid(os.geteuid()).pw_name, "git", "uid")
    except KeyError:
        return Actor(str(os.geteuid()), "git", "uid")
