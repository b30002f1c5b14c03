"""A provider that yields records already in hand, with no upstream behind it.

The bench uses it to time the engine alone on records fetched beforehand; the
sync-engine tests use it to feed the engine exact snapshots.
"""

from collections.abc import Iterable, Iterator

from .base import Record
from .http import HttpStats


class _NoHttp:
    """Stands where a provider's HttpClient would be: no requests, nothing to close."""

    def __init__(self):
        self.stats = HttpStats()

    def close(self) -> None:
        """Nothing was opened."""


class Replay:
    def __init__(self, records: Iterable[Record]):
        self.records = records
        self.http = _NoHttp()

    def fetch(self) -> Iterator[Record]:
        yield from self.records
