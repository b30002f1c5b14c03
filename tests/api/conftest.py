"""The API tests reuse the campaign fixtures: a synced inventory, people, users and launched campaigns."""

import pytest
from django.test import Client

from pipeaccess.models import ApiToken
from tests.reviews.conftest import inventory, launched, make_template, people, users  # noqa: F401


@pytest.fixture
def api():
    """api(user, read_only=False) -> a client that sends that user's new API token."""

    def make(user, *, read_only: bool = False) -> Client:
        _, raw = ApiToken.issue(user, read_only=read_only)
        return Client(HTTP_AUTHORIZATION=f"Token {raw}")

    return make
