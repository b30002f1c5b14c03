"""Celery tasks: revocations."""

__all__: list[str] = []
