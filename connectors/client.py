"""Build a ready-to-run provider for a Connector row: config, secrets and the guarded HTTP client."""

import hashlib

from .base import BaseConnector, ConfigurationError, ConnectorConfig
from .http import DjangoCacheResponseCache, HttpClient
from .models import Connector
from .registry import connector_class
from .secrets import resolve


def build_connector(connector: Connector, *, pasted: dict | None = None, **http_options) -> BaseConnector:
    """pasted: KEY -> token typed into a form and not saved yet (the connection test); used instead of the reference."""
    cls = connector_class(connector.kind)
    pasted = pasted or {}

    def secret(key: str) -> str:
        if key in pasted:
            return pasted[key]
        return resolve(_secret_ref(connector, key), connector=connector, key=key)

    config = ConnectorConfig(
        name=connector.name,
        api_url=cls.api_url(connector.base_url),
        options=connector.options,
        secret=secret,
        allow_private_network=connector.allow_private_network,
    )
    provider = cls(config, http=None)
    headers = provider.auth_headers()
    # A new token must not be answered from the previous token's cached pages.
    token_hash = hashlib.sha256("\x1f".join(sorted(headers.values())).encode()).hexdigest()[:16]
    provider.http = HttpClient(
        config.api_url,
        headers=headers,
        allow_private_network=config.allow_private_network,
        cache=DjangoCacheResponseCache(),
        cache_namespace=f"connector:{connector.pk}:{token_hash}",
        **http_options,
    )
    return provider


def _secret_ref(connector: Connector, key: str) -> str:
    try:
        return connector.secrets[key]
    except KeyError:
        raise ConfigurationError(
            f"connector {connector.name} has no secret {key}= "
            f"(add --secret {key}=env:NAME, or store one: connector secret set {connector.name} {key})"
        ) from None
