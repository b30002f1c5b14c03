"""Connector secrets: a reference ("env:NAME", "file:PATH") or a token stored encrypted ("stored:ID").

A referenced value lives outside PipeAccess and is read at the moment a request needs it. A token pasted
into PipeAccess (the connector form's write-only field, `connector secret set`) is stored as a Fernet token
in a StoredSecret row; the keys are kept outside the database (settings.SECRETS_KEYS, newest first, or the
development key file at settings.SECRETS_KEY_PATH), so a database dump alone never yields a token.
`secrets rotate` re-encrypts every stored token under the newest key.

Every value read is registered with the log redactor, so it cannot reach a log line or an error message.
"""

import hashlib
import os
from functools import lru_cache
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db import transaction
from django.views.decorators.debug import sensitive_variables

from pipeaccess.redact import register_secret

from .base import ConfigurationError

SCHEMES = ("env", "file", "stored")
# A pasted token longer than this is not a token.
MAX_TOKEN_LENGTH = 8192


def validate_reference(ref: str) -> str:
    scheme, sep, target = ref.partition(":")
    if not sep or scheme not in SCHEMES or not target or (scheme == "stored" and not target.isdigit()):
        raise ConfigurationError(
            "a secret must be a reference, env:NAME or file:PATH, or a token stored with `connector secret set`"
        )
    return ref


def kind(ref: str) -> str:
    return str(ref).partition(":")[0]


@sensitive_variables("value")
def resolve(ref: str, *, connector=None, key: str = "") -> str:
    """The value a reference points at. A stored token is read only for the connector it was stored for."""
    validate_reference(ref)
    scheme, _, target = ref.partition(":")
    if scheme == "env":
        value = os.environ.get(target)
        if not value:
            raise ConfigurationError(f"secret reference {ref}: environment variable {target} is not set")
    elif scheme == "file":
        try:
            value = Path(target).read_text().strip()
        except OSError as exc:
            raise ConfigurationError(f"secret reference {ref}: cannot read the file ({exc.strerror})") from None
        if not value:
            raise ConfigurationError(f"secret reference {ref}: the file is empty")
    else:
        value = _read_stored(int(target), connector=connector, key=key)
    register_secret(value)
    return value


# --- keys -------------------------------------------------------------------------------------------


def _keys() -> list[bytes]:
    return _load_keys(tuple(settings.SECRETS_KEYS), str(settings.SECRETS_KEY_PATH), settings.PRODUCTION)


@lru_cache(maxsize=4)
def _load_keys(configured: tuple[str, ...], path_name: str, production: bool) -> list[bytes]:
    if configured:
        keys = [k.strip().encode() for k in configured if k.strip()]
    elif production:
        raise ConfigurationError(
            "PIPEACCESS_SECRETS_KEYS (or PIPEACCESS_SECRETS_KEYS_FILE) is required in production "
            "to store or read tokens kept by PipeAccess"
        )
    else:
        keys = _development_keys(Path(path_name))
    for position, key in enumerate(keys, start=1):
        try:
            Fernet(key)
        except ValueError:
            # The position, never the key.
            raise ImproperlyConfigured(
                f"secrets key {position} is not a Fernet key (32 url-safe base64-encoded bytes); "
                "make one with `python manage.py secrets generate-key`"
            ) from None
    if not keys:
        raise ImproperlyConfigured("no secrets key is configured")
    return keys


def _development_keys(path: Path) -> list[bytes]:
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        # Created once, readable by the owner only; losing it makes every stored token unreadable.
        try:
            with open(path, "x", encoding="ascii") as fh:
                fh.write(Fernet.generate_key().decode() + "\n")
            path.chmod(0o600)
        except FileExistsError:
            pass  # another process created it first: use theirs
    # One key per line, newest first, like PIPEACCESS_SECRETS_KEYS.
    return [line.strip().encode() for line in path.read_text(encoding="ascii").splitlines() if line.strip()]


def key_id(key: bytes) -> str:
    """A short fingerprint naming a key in audit events and `secrets status` (the key cannot be derived from it)."""
    return hashlib.sha256(b"pipeaccess secrets key id\x00" + key).hexdigest()[:12]


def _fernet() -> MultiFernet:
    return MultiFernet([Fernet(k) for k in _keys()])


def newest_key_id() -> str:
    return key_id(_keys()[0])


def generate_key() -> str:
    return Fernet.generate_key().decode()


# --- stored tokens ----------------------------------------------------------------------------------


@sensitive_variables("value")
def check_token(value: str) -> str:
    """A pasted token, trimmed; refused with a message that never repeats it."""
    value = (value or "").strip()
    if not value:
        raise ConfigurationError("the token is empty")
    if len(value) > MAX_TOKEN_LENGTH or any(ch.isspace() or not ch.isprintable() for ch in value):
        raise ConfigurationError("that does not look like a token (one line, no spaces, printable characters)")
    register_secret(value)
    return value


@sensitive_variables("value")
@transaction.atomic
def do_set_secret(connector, key: str, value: str, *, actor=None):
    """Store `value` encrypted as the connector's secret `key`; the connector's reference becomes stored:ID.

    The audit event names the connector, the key, the previous reference kind and the key's fingerprint.
    """
    from reviews.audit import record

    from .models import Connector, StoredSecret
    from .registry import connector_class

    value = check_token(value)
    connector = Connector.objects.select_for_update().get(pk=connector.pk)
    if key not in connector_class(connector.kind).secret_names:
        raise ConfigurationError(f"unknown secret for {connector.kind}: {key}")
    register_secret(value)
    fernet_keys = _keys()
    ciphertext = MultiFernet([Fernet(k) for k in fernet_keys]).encrypt(value.encode()).decode("ascii")
    previous = connector.secrets.get(key)
    stored, _ = StoredSecret.objects.update_or_create(
        connector=connector, key=key, defaults={"ciphertext": ciphertext, "key_id": key_id(fernet_keys[0])}
    )
    connector.secrets = {**connector.secrets, key: f"stored:{stored.pk}"}
    connector.save(update_fields=["secrets", "updated"])
    record(
        "connector.secret_set",
        actor=actor,
        obj=connector,
        name=connector.name,
        key=key,
        was=kind(previous) if previous else None,
        key_id=stored.key_id,
    )
    return connector


def drop_unreferenced(connector) -> int:
    """Delete the stored tokens the connector no longer points at (its reference was replaced)."""
    from .models import StoredSecret

    referenced = [int(ref.partition(":")[2]) for ref in connector.secrets.values() if kind(ref) == "stored"]
    deleted, _ = StoredSecret.objects.filter(connector=connector).exclude(pk__in=referenced).delete()
    return deleted


def stored_keys(connector) -> set[str]:
    """The connector's secret keys that hold a token stored by PipeAccess (for the form's "stored" state)."""
    if connector is None:
        return set()
    return {key for key, ref in connector.secrets.items() if kind(ref) == "stored"}


@sensitive_variables("value")
def _read_stored(pk: int, *, connector, key: str) -> str:
    from .models import StoredSecret

    name = connector.name if connector is not None else "?"
    row = StoredSecret.objects.filter(pk=pk).select_related("connector").first()
    if row is None or connector is None or row.connector_id != connector.pk:
        # A reference copied from another connector, or a row deleted under it.
        raise ConfigurationError(
            f"connector {name}: the stored token for {key or 'its secret'} is missing; set it again"
        )
    try:
        value = _fernet().decrypt(row.ciphertext.encode("ascii")).decode()
    except InvalidToken:
        raise ConfigurationError(
            f"connector {name}: the stored token for {row.key} is encrypted under a key that is not configured "
            f"(key id {row.key_id}); add that key back to PIPEACCESS_SECRETS_KEYS or set the token again"
        ) from None
    return value


def rotate() -> tuple[int, list[str]]:
    """Re-encrypt every stored token under the newest key, one row at a time.

    Returns (rows re-encrypted, problems); a problem names the connector and key, never a value.
    The rows that cannot be decrypted stay as they are.
    """
    from reviews.audit import record

    from .models import StoredSecret

    fernet_keys = _keys()
    fernet = MultiFernet([Fernet(k) for k in fernet_keys])
    newest = key_id(fernet_keys[0])
    done, problems = 0, []
    for pk in StoredSecret.objects.order_by("pk").values_list("pk", flat=True):
        with transaction.atomic():
            row = StoredSecret.objects.select_for_update().select_related("connector").filter(pk=pk).first()
            if row is None:
                continue
            try:
                ciphertext = fernet.rotate(row.ciphertext.encode("ascii")).decode("ascii")
            except InvalidToken:
                problems.append(
                    f"connector {row.connector.name}: the stored token for {row.key} is encrypted under a key "
                    f"that is not configured (key id {row.key_id})"
                )
                continue
            was = row.key_id
            row.ciphertext, row.key_id = ciphertext, newest
            row.save(update_fields=["ciphertext", "key_id", "updated"])
            record(
                "connector.secret_rotated",
                obj=row.connector,
                name=row.connector.name,
                key=row.key,
                was_key_id=was,
                key_id=newest,
            )
            done += 1
    return done, problems
