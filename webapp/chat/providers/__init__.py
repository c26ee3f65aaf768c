"""Chat providers: build the configured model services from plain settings.

The web layer calls `build_providers(settings)` once per application and
keeps the result; each provider holds one long-lived, thread-safe client.
"""

from __future__ import annotations

import ipaddress
import math
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

from .base import ChatProvider, ChatTurn, Chunk, ErrorKind, ProviderError, Role

__all__ = [
    "ChatProvider",
    "ChatTurn",
    "Chunk",
    "ErrorKind",
    "ProviderError",
    "Role",
    "build_providers",
]

DEFAULT_OPENAI_MODELS = ["gpt-4o-mini"]
DEFAULT_CONNECT_TIMEOUT = 10.0
DEFAULT_READ_TIMEOUT = 60.0
DEFAULT_MAX_RETRIES = 2


def build_providers(settings: Mapping[str, Any]) -> dict[str, ChatProvider]:
    """Return the configured providers keyed by name ("openai", "bedrock").

    Only providers whose settings are present are built, so the result is
    empty when no model service is configured. Settings may be strings, as
    read from the environment. Raises ValueError for a malformed setting, so
    a bad configuration stops the application at start-up rather than at the
    first chat.
    """
    connect_timeout = _seconds(settings, "CHAT_CONNECT_TIMEOUT", DEFAULT_CONNECT_TIMEOUT)
    read_timeout = _seconds(settings, "CHAT_READ_TIMEOUT", DEFAULT_READ_TIMEOUT)
    max_retries = _count(settings, "CHAT_MAX_RETRIES", DEFAULT_MAX_RETRIES)
    providers: dict[str, ChatProvider] = {}

    api_key = _text(settings, "OPENAI_API_KEY")
    base_url = _text(settings, "OPENAI_BASE_URL")
    if api_key or base_url:
        # Imported here so an installation using only one service does not
        # pay for importing the other's client library.
        from .openai_provider import OpenAIProvider

        providers["openai"] = OpenAIProvider(
            models=_names(settings, "OPENAI_MODELS") or list(DEFAULT_OPENAI_MODELS),
            api_key=api_key,
            base_url=base_url,
            label=_text(settings, "OPENAI_PROVIDER_LABEL") or _openai_label(base_url),
            connect_timeout=connect_timeout,
            read_timeout=read_timeout,
            max_retries=max_retries,
        )

    bedrock_models = _names(settings, "BEDROCK_MODELS")
    if bedrock_models:
        from .bedrock import BedrockProvider

        providers["bedrock"] = BedrockProvider(
            models=bedrock_models,
            region=_text(settings, "AWS_REGION"),
            endpoint_url=_text(settings, "BEDROCK_ENDPOINT_URL"),
            connect_timeout=connect_timeout,
            read_timeout=read_timeout,
            max_retries=max_retries,
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


def _text(settings: Mapping[str, Any], key: str) -> str | None:
    """Return the setting as a stripped string, or None when absent or blank."""
    value = settings.get(key)
    if value is None:
        return None
    text = str(value).strip()
    return text or None


def _names(settings: Mapping[str, Any], key: str) -> list[str]:
    """Return a comma-separated setting (or a list) as names, blanks dropped, order kept."""
    value = settings.get(key)
    if value is None:
        return []
    parts = value.split(",") if isinstance(value, str) else [str(item) for item in value]
    names: list[str] = []
    for part in parts:
        name = part.strip()
        if name and name not in names:
            names.append(name)
    return names


def _seconds(settings: Mapping[str, Any], key: str, default: float) -> float:
    """Return a positive number of seconds, the default when unset."""
    text = _text(settings, key)
    if text is None:
        return default
    try:
        seconds = float(text)
    except ValueError:
        raise ValueError(f"{key} must be a number of seconds, not {text!r}.") from None
    if not (math.isfinite(seconds) and seconds > 0):
        raise ValueError(f"{key} must be a finite number of seconds above 0, not {text!r}.")
    return seconds


def _count(settings: Mapping[str, Any], key: str, default: int) -> int:
    """Return a whole number of at least 0, the default when unset."""
    text = _text(settings, key)
    if text is None:
        return default
    try:
        count = int(text)
    except ValueError:
        raise ValueError(f"{key} must be a whole number, not {text!r}.") from None
    if count < 0:
        raise ValueError(f"{key} must be 0 or more, not {text!r}.")
    return count
