"""Who pushed, per git server: each server is recognised by the variables it sets itself, one
server's variable never overrides another's pusher, and doubt (or a pinned server without its
variable) rejects."""

from __future__ import annotations

import os
import pwd

import pytest

from engine.servers import ServerError, detect_actor
from tests.helpers.servers import SERVER_KINDS, server_env

VARIABLE = {"github-enterprise": "GITHUB_USER_LOGIN", "gitlab": "GL_USERNAME", "gitolite": "GL_USER",
            "gitea": "GITEA_PUSHER_NAME"}


@pytest.mark.parametrize("kind", SERVER_KINDS)
def test_each_server_is_recognised_by_its_own_markers(kind: str) -> None:
    actor = detect_actor(server_env(kind, "bob"))
    assert actor == ("bob", kind, VARIABLE[kind])


def test_plain_git_falls_back_to_the_local_user() -> None:
    actor = detect_actor({"GIT_DIR": "."})
    assert actor == (pwd.getpwuid(os.geteuid()).pw_name, "git", "uid")


@pytest.mark.parametrize("kind", SERVER_KINDS)
@pytest.mark.parametrize("intruder", ["GITHUB_USER_LOGIN", "GL_USERNAME", "GL_USER", "GITEA_PUSHER_NAME"])
def test_another_servers_pusher_variable_does_not_override_the_pusher(kind: str, intruder: str) -> None:
    env = {intruder: "alice", **server_env(kind, "bob")}
    assert detect_actor(env).name == "bob"


def test_two_servers_with_complete_markers_cannot_be_told_apart() -> None:
    env = {**server_env("github-enterprise", "alice"), **server_env("gitolite", "bob")}
    with pytest.raises(ServerError, match=r"cannot tell which git server.*github-enterprise and gitolite.*"
                                          r"policy hook install --server"):
        detect_actor(env)


@pytest.mark.parametrize("kind", SERVER_KINDS)
def test_a_pusher_variable_without_its_servers_markers_is_doubt(kind: str) -> None:
    with pytest.raises(ServerError, match=f"cannot tell who is pushing: {VARIABLE[kind]} names 'alice'"):
        detect_actor({VARIABLE[kind]: "alice"})


def test_an_empty_pusher_variable_names_nobody() -> None:
    env = {**server_env("gitolite", "bob"), "GL_USER": ""}
    assert detect_actor(env).server == "git"  # no pusher variable set: plain git


def test_a_pinned_server_reads_only_its_own_variable() -> None:
    env = {**server_env("github-enterprise", "alice"), **server_env("gitolite", "bob")}
    assert detect_actor(env, pinned="gitolite") == ("bob", "gitolite", "GL_USER")
    assert detect_actor(env, pinned="github-enterprise").name == "alice"
    assert detect_actor(env, pinned="git").source == "uid"


def test_a_pinned_server_without_its_pusher_variable_fails_closed() -> None:
    with pytest.raises(ServerError, match="pinned to gitlab, but GL_USERNAME"):
        detect_actor(server_env("gitolite", "bob"), pinned="gitlab")
