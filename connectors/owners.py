"""Placeholder until the people issue's owners lands (see /work/notes)."""


def after_sync(run) -> None:
    """Called after each applied sync (settings.SYNC_APPLIED_HOOKS)."""
