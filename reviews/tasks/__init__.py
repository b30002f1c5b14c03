"""Celery tasks of the reviews app, one module per area (Celery's autodiscovery imports this package)."""

from .audit import *  # noqa: F403
from .campaigns import *  # noqa: F403
from .mail import *  # noqa: F403
from .revocations import *  # noqa: F403
