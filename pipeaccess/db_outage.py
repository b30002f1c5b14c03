"""While the database is unreachable, every request gets a clear 503 instead of a bare "Server Error (500)".

Wired as ``handler500`` (pipeaccess/urls.py), so it sees every uncaught exception: raised by a view, by DRF, or
by a middleware (the session is loaded and saved there). Django calls it inside the ``except`` block, so the
exception is at hand. A lost connection (OperationalError, InterfaceError) means nothing was committed by this
request: decisions and their audit events are written in one transaction. Anything else is a bug and keeps the
plain 500 page. No exception text reaches the response; the stack trace goes to the log as for any error.
Once the database is back, the next request's connection health check (CONN_HEALTH_CHECKS) reconnects.
"""

import sys

from django.db import InterfaceError, OperationalError
from django.http import HttpResponse, JsonResponse
from django.views.defaults import server_error

MESSAGE = "The database is unavailable, so nothing was saved. Try again in a minute."
RETRY_AFTER_SECONDS = 30

PAGE = f"""<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><title>PipeAccess is unavailable</title></head>
<body>
<h1>PipeAccess is unavailable</h1>
<p>{MESSAGE}</p>
</body>
</html>
"""


def _wants_json(request) -> bool:
    return request.path.startswith("/api/") or "application/json" in request.headers.get("Accept", "")


def server_error_or_outage(request, *args, **kwargs):
    if not isinstance(sys.exception(), (OperationalError, InterfaceError)):
        return server_error(request, *args, **kwargs)
    if _wants_json(request):
        response = JsonResponse({"detail": MESSAGE}, status=503)
    else:
        # Plain HTML without the base template: its context processors read the database.
        response = HttpResponse(PAGE, status=503)
    response["Retry-After"] = str(RETRY_AFTER_SECONDS)
    return response
