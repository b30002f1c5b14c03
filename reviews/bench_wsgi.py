"""WSGI entry of the web bench's gunicorn: the app with reviews/bench_urls.py as its URLs (a settings override)."""

import os

from django.conf import settings
from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "pipeaccess.settings")
settings.ROOT_URLCONF = "reviews.bench_urls"
application = get_wsgi_application()
