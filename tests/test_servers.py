"""Who pushed, per git server: the variable each one sets, recorded with the server kind."""

from __future__ import annotations

import os
import pwd

import pytest

from engine.servers import detect_actor


@pytest.mark.parametrize(("env", "name", "server"), [
    ({"GITHUB_USER_LOGIN": "octocat", "GITHUB_VIA": "git"}, "octocat", "github-enterprise"),
    ({"GL_USERNAME": "gitlab-user", "GL_ID": "user-1", "GL_PROTOCOL": "ssh"}, "gitlab-user", "gitlab"),
    ({"GL_USER": "gitolite-user", "GL_REPO": "models"}, "gitolite-user", "gitolite"),
    ({"GITEA_PUSHER_NAME": "gitea-user", "GITEA_REPO_NAME": "r"}, "gitea-user", "gitea"),
])
def test_each_server_kind_is_recognised(env: dict[str, str], name: str, server: str) -> None:
    actor = detect_actor(env)
    assert (actor.name, actor.server) == (name, server)
    assert env[actor.source] == name


def test_plain_git_falls_back_to_the_local_user() -> None:
    actor = detect_actor({})
    assert actor == (pwd.getpwuid(os.geteuid()).pw_name, "git", "uid")


def test_empty_variable_is_not_an_identity() -> None:
    assert detect_actor({"GITHUB_USER_LOGIN": "", "GL_USER": "g"}).server == "gitolite"
