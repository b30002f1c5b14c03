"""Celery tasks: campaigns."""

__all__: list[str] = []
