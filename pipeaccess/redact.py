"""Keep secrets out of logs.

Connector tokens are resolved from references at the moment a request is
made; every resolved value is registered here so that a log record that
somehow contains it (an exception message, a URL) is masked before output.
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


class RedactSecretsFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        cleaned = redact(message)
        if record.exc_info and record.exc_info[1] is not None:
            exc_text = logging.Formatter().formatException(record.exc_info)
            record.exc_text = redact(exc_text)
        if cleaned != message:
            record.msg, record.args = cleaned, None
        return True
