"""Build a ready-to-run provider for a Connector row: config, secrets and the guarded HTTP client."""

import hashlib

from .base import BaseConnector, ConfigurationError, ConnectorConfig
from .http import DjangoCacheResponseCache, HttpClient
from .models import Connector
from .registry import connector_class
from .secrets import resolve


def build_connector(connector: Connector, **http_options) -> BaseConnector:
    cls = connector_class(connector.kind)
    config = ConnectorConfig(
        name=connector.name,
        api_url=cls.api_url(connector.base_url),
        options=connector.options,
        secret=lambda key: resolve(_secret_ref(connector, key)),
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
            f"connector {connector.name} has no secret {key}= (add --secret {key}=env:NAME)"
        ) from None
