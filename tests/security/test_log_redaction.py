"""A registered secret is masked in every log record, whichever handler sees it first."""

import logging

from pipeaccess.redact import MASK, register_secret

TOKEN = "ghp_logcanary_4f9a2c7e1b"


class Collect(logging.Handler):
    def __init__(self):
        super().__init__()
        self.lines: list[str] = []

    def emit(self, record):
        self.lines.append(self.format(record))


def test_a_handler_ahead_of_ours_and_a_non_propagating_logger_see_only_the_mask():
    """ASVS 5.0 V16.2.5: sensitive data is not logged; masking does not depend on handler order
    (a handler put first on the root logger, as Celery's worker does when it takes the root logger over)."""
    register_secret(TOKEN)
    root = logging.getLogger()
    first = Collect()
    root.handlers.insert(0, first)
    isolated = logging.getLogger("pipeaccess.tests.isolated")
    own = Collect()
    isolated.addHandler(own)
    isolated.propagate = False
    try:
        logging.getLogger("pipeaccess.tests").warning("calling upstream with %s", TOKEN)
        isolated.error("token in the message %s", f"Bearer {TOKEN}")
        try:
            raise RuntimeError(f"upstream echoed {TOKEN}")
        except RuntimeError:
            isolated.exception("sync failed")
    finally:
        root.handlers.remove(first)
        isolated.removeHandler(own)

    logged = "\n".join(first.lines + own.lines)
    assert "calling upstream with " + MASK in logged
    assert f"Bearer {MASK}" in logged
    assert f"upstream echoed {MASK}" in logged  # the traceback too
    assert TOKEN not in logged
