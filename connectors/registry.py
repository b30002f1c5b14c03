"""Connector kinds: kind -> (label, dotted path). Imported lazily, listed explicitly."""

from importlib import import_module

from .base import BaseConnector

KINDS: dict[str, tuple[str, str]] = {
    "github": ("GitHub (cloud and Enterprise Server)", "connectors.providers.github.GitHubConnector"),
}


def known_kinds() -> list[str]:
    return sorted(KINDS)


def connector_class(kind: str) -> type[BaseConnector]:
    try:
        _label, dotted = KINDS[kind]
    except KeyError:
        raise LookupError(f"unknown connector kind {kind!r}; known kinds: {', '.join(known_kinds())}") from None
    module_name, class_name = dotted.rsplit(".", 1)
    return getattr(import_module(module_name), class_name)
