"""Connector kinds: kind -> (label, dotted path). Imported lazily, listed explicitly."""

from importlib import import_module

from .base import BaseConnector

KINDS: dict[str, tuple[str, str]] = {
    "github": ("GitHub (cloud and Enterprise Server)", "connectors.providers.github.GitHubConnector"),
    "harbor": ("Harbor", "connectors.providers.harbor.HarborConnector"),
    "dockerhub": ("Docker Hub", "connectors.providers.dockerhub.DockerHubConnector"),
    "artifactory": ("JFrog Artifactory", "connectors.providers.artifactory.ArtifactoryConnector"),
    "quay": ("Quay (quay.io and self-hosted)", "connectors.providers.quay.QuayConnector"),
    "gitlab": ("GitLab (gitlab.com and self-managed)", "connectors.providers.gitlab.GitLabConnector"),
    "jenkins": ("Jenkins", "connectors.providers.jenkins.JenkinsConnector"),
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
