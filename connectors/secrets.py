"""Secret references: a connector stores "env:NAME" or "file:PATH", never the value.

The value is read at the moment a request needs it and registered with the
log redactor, so it cannot reach a log line or an error message.
"""

import os
from pathlib import Path

from pipeaccess.redact import register_secret

from .base import ConfigurationError

SCHEMES = ("env", "file")


def validate_reference(ref: str) -> str:
    scheme, sep, target = ref.partition(":")
    if not sep or scheme not in SCHEMES or not target:
        raise ConfigurationError(
            "a secret must be a reference, env:NAME or file:PATH (the value itself is never stored)"
        )
    return ref


def resolve(ref: str) -> str:
    validate_reference(ref)
    scheme, _, target = ref.partition(":")
    if scheme == "env":
        value = os.environ.get(target)
        if not value:
            raise ConfigurationError(f"secret reference {ref}: environment variable {target} is not set")
    else:
        try:
            value = Path(target).read_text().strip()
        except OSError as exc:
            raise ConfigurationError(f"secret reference {ref}: cannot read the file ({exc.strerror})") from None
        if not value:
            raise ConfigurationError(f"secret reference {ref}: the file is empty")
    register_secret(value)
    return value
