"""While the database cannot be reached, pages and the API answer 503 with a clear message, never a stack trace.

ASVS 5.0 V16.5.1 (a generic message on unexpected errors, no internals exposed) and V16.5.2 (operating securely
when an external resource fails). The connection is pointed at a database that cannot be opened (a closed
loopback port for PostgreSQL, a missing directory for SQLite): a real connection failure, as when the server is
down. The end-to-end version, a PostgreSQL crash under load with gunicorn and workers, is test_postgres_restart.py.
"""

import contextlib

import pytest
from django.db import connection
from django.test import Client, RequestFactory

from pipeaccess.db_outage import MESSAGE, server_error_or_outage
from pipeaccess.models import ApiToken
from tests.reliability.servers import free_port

pytestmark = pytest.mark.django_db(transaction=True)

TRACES = ("Traceback", "psycopg", "sqlite", "OperationalError", 'File "')


@contextlib.contextmanager
def database_down():
    """Inside, every new connection of this process fails; afterwards it connects as before."""
    saved = dict(connection.settings_dict)
    connection.close()
    if connection.vendor == "postgresql":
        connection.settings_dict.update(HOST="127.0.0.1", PORT=str(free_port()))
    else:
        connection.settings_dict["NAME"] = "/nonexistent/pipeaccess/db.sqlite3"
    try:
        yield
    finally:
        connection.close()
        connection.settings_dict.update(saved)


def _shows_no_internals(body: bytes) -> bool:
    text = body.decode()
    return not any(trace in text for trace in TRACES)


def test_the_api_answers_503_with_a_json_message(reviewer_user):
    _, raw = ApiToken.issue(reviewer_user)
    client = Client(HTTP_AUTHORIZATION=f"Token {raw}", raise_request_exception=False)
    with database_down():
        response = client.get("/api/v1/items/1/")
    assert response.status_code == 503
    assert response.json() == {"detail": MESSAGE}
    assert int(response["Retry-After"]) > 0
    assert _shows_no_internals(response.content)


def test_a_signed_in_page_answers_503_with_a_page_and_works_again_once_the_database_is_back(reviewer_user):
    browser = Client(raise_request_exception=False)
    browser.force_login(reviewer_user)
    with database_down():
        page = browser.get("/reviews/")
    assert page.status_code == 503
    assert page["Content-Type"].startswith("text/html")
    assert MESSAGE.encode() in page.content and _shows_no_internals(page.content)
    # The same process and the same session: nothing to restart.
    assert browser.get("/reviews/").status_code == 200


def test_any_other_server_error_keeps_the_plain_500_page():
    request = RequestFactory().get("/reviews/")
    try:
        raise ValueError("a bug, not an outage")
    except ValueError:
        response = server_error_or_outage(request)
    assert response.status_code == 500
    assert MESSAGE.encode() not in response.content and b"a bug" not in response.content
