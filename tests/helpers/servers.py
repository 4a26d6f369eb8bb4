"""The environment each git server gives a pre-receive hook, as that server sets it.

Written from each server's documentation or source (GitHub Enterprise Server's "creating a
pre-receive hook script", GitLab's server hooks, Gitea's modules/repository/env.go) and,
for Gitolite, from a real gitolite3 push (tests/helpers/gitolite.py runs one).
"""

from __future__ import annotations


def server_env(kind: str, user: str) -> dict[str, str]:
    """What `kind` sets for a push by `user` (beside git's own variables)."""
    if kind == "github-enterprise":
        return {"GITHUB_USER_LOGIN": user, "GITHUB_REPO_NAME": "acme/support-bot", "GITHUB_REPO_PUBLIC": "false",
                "GITHUB_USER_IP": "192.0.2.7", "GITHUB_VIA": "git"}
    if kind == "gitlab":
        return {"GL_ID": "user-7", "GL_USERNAME": user, "GL_REPOSITORY": "project-12", "GL_PROTOCOL": "ssh",
                "GL_PROJECT_PATH": "acme/support-bot"}
    if kind == "gitolite":
        return {"GL_USER": user, "GL_REPO": "support-bot", "GL_BINDIR": "/usr/share/gitolite3",
                "GL_LIBDIR": "/usr/share/gitolite3/lib", "GL_ADMIN_BASE": "/srv/git/.gitolite",
                "GL_REPO_BASE": "/srv/git/repositories", "GL_TID": "4242"}
    if kind == "gitea":
        return {"GITEA_PUSHER_NAME": user, "GITEA_PUSHER_ID": "7", "GITEA_REPO_NAME": "support-bot",
                "GITEA_REPO_USER_NAME": "acme", "GITEA_REPO_IS_WIKI": "false", "GITEA_REPO_ID": "12",
                "GITEA_PR_ID": "0"}
    raise ValueError(kind)


SERVER_KINDS = ("github-enterprise", "gitlab", "gitolite", "gitea")
