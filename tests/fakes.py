"""A fake clock and sleep shared by tests, so waits are real decisions without real waiting."""

DEFAULT_NOW = 1_700_000_000.0  # 2023-11-14


class FakeTime:
    """clock/sleep pair for client and simulator: sleeping only moves the clock, and every sleep is recorded.

    Pass ``clock`` (not the object) where a simulator or HttpClient wants a clock; tests move time with
    ``now`` or :meth:`advance`, which, unlike :meth:`sleep`, is not recorded in ``sleeps``.
    """

    def __init__(self, now: float = DEFAULT_NOW):
        self.now = float(now)
        self.sleeps: list[float] = []

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds

    def advance(self, seconds: float) -> None:
        self.now += seconds
