"""Fixtures for the GitHub Action: the fake GitHub validated against GitHub's OpenAPI description."""

from tests.helpers.fake_github import fake_github

__all__ = ["fake_github"]
