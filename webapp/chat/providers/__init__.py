"""Chat providers: build the configured model services from typed settings.

The app builds `ProviderSettings.from_config(app.config)` and `build_providers(settings)` once per application
and keeps the result; each provider holds one long-lived, thread-safe client. Every value (and its default)
comes from config.py; nothing here reads the environment or falls back to a value of its own.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from .base import ChatProvider, ChatTurn, Chunk, ErrorKind, ProviderError, Role, SamplingOptions

__all__ = [
    "ChatProvider",
    "ChatTurn",
    "Chunk",
    "ErrorKind",
    "ProviderError",
    "ProviderSettings",
    "Role",
    "SamplingOptions",
    "build_providers",
]


@dataclass(frozen=True)
class ProviderSettings:
    """What the model services need, already parsed and checked by config.py."""

    openai_api_key: str  # empty: none (a local server needs none)
    openai_base_url: str  # empty: OpenAI's own
    openai_models: tuple[str, ...]
    openai_label: str  # empty: "Local" for a server on this machine, else "OpenAI"
    bedrock_models: tuple[str, ...]
    bedrock_region: str | None  # None: boto3's own chain
    bedrock_endpoint_url: str  # empty: AWS's
    connect_timeout: float
    read_timeout: float
    max_retries: int

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> ProviderSettings:
        return cls(
            openai_api_key=config["OPENAI_API_KEY"],
            openai_base_url=config["OPENAI_BASE_URL"],
            openai_models=tuple(config["OPENAI_MODELS"]),
            openai_label=config["OPENAI_PROVIDER_LABEL"],
            bedrock_models=tuple(config["BEDROCK_MODELS"]),
            bedrock_region=config["BEDROCK_REGION"],
            bedrock_endpoint_url=config["BEDROCK_ENDPOINT_URL"],
            connect_timeout=config["CHAT_CONNECT_TIMEOUT"],
            read_timeout=config["CHAT_READ_TIMEOUT"],
            max_retries=config["CHAT_MAX_RETRIES"],
        )


def build_providers(settings: ProviderSettings) -> dict[str, ChatProvider]:
    """Return the configured providers keyed by name ("openai", "bedrock").

    Only providers whose settings are present are built, so the result is empty when no model service is
    configured. Raises ValueError when a service cannot be set up (Bedrock with no region anywhere), so a bad
    configuration stops the application at start-up rather than at the first chat.
    """
    providers: dict[str, ChatProvider] = {}
    if settings.openai_api_key or settings.openai_base_url:
        # Imported here so an installation using only one service does not
        # pay for importing the other's client library.
        from .openai_provider import OpenAIProvider

        providers["openai"] = OpenAIProvider(
            models=list(settings.openai_models),
            api_key=settings.openai_api_key or None,
            base_url=settings.openai_base_url or None,
            label=settings.openai_label or _openai_label(settings.openai_base_url),
            connect_timeout=settings.connect_timeout,
            read_timeout=settings.read_timeout,
            max_retries=settings.max_retries,
        )

    if settings.bedrock_models:
        from .bedrock import BedrockProvider

        providers["bedrock"] = BedrockProvider(
            models=list(settings.bedrock_models),
            region=settings.bedrock_region,
            endpoint_url=settings.bedrock_endpoint_url or None,
            connect_timeout=settings.connect_timeout,
            read_timeout=settings.read_timeout,
            max_retries=settings.max_retries,
        )
    return providers


def _openai_label(base_url: str | None) -> str:
    """Return "Local" for a server on this machine, "OpenAI" otherwise."""
    if not base_url:
        return "OpenAI"
    host = urlsplit(base_url).hostname or ""
    if host == "localhost" or host.endswith(".localhost"):
        return "Local"
    try:
        return "Local" if ipaddress.ip_address(host).is_loopback else "OpenAI"
    except ValueError:
        return "OpenAI"
