"""The chain is walked in pages: verifying six times as many events takes no more memory.

Pages of 1,000 rows here (5,000 in production) keep the test quick; the figures for 100,000 and 1,000,000
events are in the README.
"""

import tracemalloc

import pytest

from reviews import audit
from tests.audit.helpers import bulk_chain

pytestmark = pytest.mark.django_db


def verify_peak() -> tuple[audit.Report, int]:
    tracemalloc.start()
    try:
        report = audit.verify(chunk=1000)
        return report, tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_verify_memory_stays_flat_as_the_chain_grows():
    bulk_chain(2_000)
    small, small_peak = verify_peak()
    bulk_chain(10_000, start=2_001)
    large, large_peak = verify_peak()
    assert small.ok and small.count == 2_000
    assert large.ok and large.count == 12_000
    # Two pages at most are alive at once, whatever the length.
    assert large_peak < small_peak * 1.3, (small_peak, large_peak)
