"""Keep secrets out of logs.

Connector tokens are resolved from references at the moment a request is
made; every resolved value is registered here so that a log record that
somehow contains it (an exception message, a URL) is masked before output.

The masking happens where records are made (install_record_factory), not in
one handler: a handler added ahead of ours, or Celery replacing the root
logger's handlers in a worker, would otherwise see the record unmasked.
"""

import logging
import threading

_lock = threading.Lock()
_secrets: set[str] = set()
MASK = "********"


def register_secret(value: str) -> None:
    # Very short values would mask ordinary words; real tokens are long.
    if value and len(value) >= 6:
        with _lock:
            _secrets.add(value)


def redact(text: str) -> str:
    with _lock:
        secrets = sorted(_secrets, key=len, reverse=True)
    for secret in secrets:
        if secret in text:
            text = text.replace(secret, MASK)
    return text


def _mask(record: logging.LogRecord) -> None:
    with _lock:
        if not _secrets:
            return
    try:
        message = record.getMessage()
    except (TypeError, ValueError):
        return  # a malformed format: logging reports it when a handler formats the record
    cleaned = redact(message)
    if record.exc_info and record.exc_info[1] is not None:
        record.exc_text = redact(logging.Formatter().formatException(record.exc_info))
    if cleaned != message:
        record.msg, record.args = cleaned, None


class RedactSecretsFilter(logging.Filter):
    """The same masking for records made before the factory was installed."""

    def filter(self, record: logging.LogRecord) -> bool:
        _mask(record)
        return True


def install_record_factory() -> None:
    """Mask every log record as it is made, whatever handlers come to see it (idempotent)."""
    current = logging.getLogRecordFactory()
    if getattr(current, "masks_secrets", False):
        return

    def factory(*args, **kwargs) -> logging.LogRecord:
        record = current(*args, **kwargs)
        _mask(record)
        return record

    factory.masks_secrets = True
    logging.setLogRecordFactory(factory)
