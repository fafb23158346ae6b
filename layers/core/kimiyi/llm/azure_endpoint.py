"""Parse the integration guide's AZURE_OPENAI_ENDPOINT, which may be a full chat-completions URL.

Accepted forms:
  https://res.openai.azure.com/openai/deployments/gpt-4o-mini/chat/completions?api-version=2024-08-01-preview
  https://res.openai.azure.com  (+ AZURE_OPENAI_DEPLOYMENT, and AZURE_OPENAI_API_VERSION or the default)
Values inside the full URL win over the separate variables, which only fill what the URL lacks.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import parse_qs, urlsplit

from .errors import LLMConfigError

DEFAULT_AZURE_API_VERSION = "2024-10-21"  # the latest GA data-plane inference version when written

_FULL_PATH = re.compile(r"^(?P<prefix>.*?)/openai/deployments/(?P<deployment>[^/]*)/chat/completions/?$")
_DEPLOYMENT = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
_API_VERSION = re.compile(r"^\d{4}-\d{2}-\d{2}(-[a-z]+)?$")
_LOOPBACK = {"127.0.0.1", "localhost", "::1"}


@dataclass(frozen=True)
class AzureTarget:
    endpoint: str  # scheme://host[:port][/prefix], what openai.AzureOpenAI calls azure_endpoint
    deployment: str
    api_version: str

    @property
    def host(self) -> str:
        return urlsplit(self.endpoint).netloc


def parse_azure_endpoint(endpoint: str, deployment: str = "", api_version: str = "") -> AzureTarget:
    """Endpoint, deployment and api-version from the variables' values; LLMConfigError names the bad one."""
    endpoint = endpoint.strip()
    try:
        parts = urlsplit(endpoint)
        port = parts.port  # raises on a non-numeric port
    except ValueError as error:
        raise LLMConfigError(f"AZURE_OPENAI_ENDPOINT is not a URL: {error}") from None
    host = parts.hostname or ""
    if parts.scheme not in ("https", "http") or not host:
        raise LLMConfigError(
            "AZURE_OPENAI_ENDPOINT must be an https:// URL, e.g. https://myres.openai.azure.com"
        )
    if parts.scheme == "http" and host not in _LOOPBACK:
        raise LLMConfigError("AZURE_OPENAI_ENDPOINT must use https:// (plain http only for a local server)")
    netloc = host if port is None else f"{host}:{port}"
    if ":" in host:
        netloc = f"[{host}]" if port is None else f"[{host}]:{port}"

    path = parts.path.rstrip("/")
    full = _FULL_PATH.match(parts.path)
    if full:
        prefix, deployment = full["prefix"], full["deployment"] or ""
        if not deployment:
            raise LLMConfigError(
                "AZURE_OPENAI_ENDPOINT has an empty deployment name in /openai/deployments/…"
            )
        from_url = parse_qs(parts.query).get("api-version", [""])[0].strip()
        api_version = from_url or api_version.strip()
        version_source = "AZURE_OPENAI_ENDPOINT" if from_url else "AZURE_OPENAI_API_VERSION"
    else:
        if "/deployments" in path or path.endswith("/completions"):
            raise LLMConfigError(
                "AZURE_OPENAI_ENDPOINT must end in /openai/deployments/<deployment>/chat/completions"
                "?api-version=… or be the resource endpoint alone"
            )
        if path.endswith("/openai"):
            path = path[: -len("/openai")]
        if path:
            raise LLMConfigError(
                f"AZURE_OPENAI_ENDPOINT has an unexpected path {parts.path!r}: give the resource endpoint "
                "(https://<resource>.openai.azure.com) or the full chat-completions URL"
            )
        prefix, deployment = "", deployment.strip()
        if not deployment:
            raise LLMConfigError(
                "AZURE_OPENAI_DEPLOYMENT is required when AZURE_OPENAI_ENDPOINT is the resource endpoint "
                "(or put the full chat-completions URL in AZURE_OPENAI_ENDPOINT)"
            )
        api_version = api_version.strip()
        version_source = "AZURE_OPENAI_API_VERSION"

    if not _DEPLOYMENT.match(deployment):
        source = "AZURE_OPENAI_ENDPOINT" if full else "AZURE_OPENAI_DEPLOYMENT"
        raise LLMConfigError(f"{source} has an invalid deployment name {deployment!r}")
    api_version = api_version or DEFAULT_AZURE_API_VERSION
    if not _API_VERSION.match(api_version):
        raise LLMConfigError(
            f"{version_source} has an invalid api-version {api_version!r} (expected e.g. 2024-10-21)"
        )
    return AzureTarget(f"{parts.scheme}://{netloc}{prefix}", deployment, api_version)
