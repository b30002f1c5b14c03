"""Celery tasks: mail."""

__all__: list[str] = []
