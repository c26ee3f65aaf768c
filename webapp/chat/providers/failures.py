"""The sentences a person reads when a model service fails, written once for every provider.

Each provider decides which failure it met (from its own client library's exceptions) and raises the error built
here, so the same failure reads the same whichever service is behind it.
"""

from __future__ import annotations

import logging

from .base import CONNECT_FAILED_MESSAGE, ProviderError, format_seconds, quote_service_message

log = logging.getLogger("webapp.chat.providers")


def _shown(status: int | None) -> str:
    """ " (429)" after a sentence's subject when the service sent an HTTP status, else nothing."""
    return f" ({status})" if status else ""


def reply_cut_short() -> ProviderError:
    return ProviderError("connection", "The model service ended the reply before it was complete.", mid_stream=True)


def connect_timed_out(url: str | None, seconds: float, error: BaseException) -> ProviderError:
    # The address goes to the operator's log, not into a sentence every user reads.
    log.warning("could not connect to the model service at %s: %s", url, error)
    return ProviderError("timeout", f"Could not connect to the model service within {format_seconds(seconds)}.")


def read_timed_out(seconds: float, *, mid_stream: bool) -> ProviderError:
    if mid_stream:
        return ProviderError(
            "timeout", f"The model service stopped sending the reply for {format_seconds(seconds)}.", mid_stream=True
        )
    return ProviderError("timeout", f"The model service did not answer in {format_seconds(seconds)}.")


def cannot_connect(url: str | None, error: BaseException) -> ProviderError:
    log.warning("could not connect to the model service at %s: %s", url, error)
    return ProviderError("connection", CONNECT_FAILED_MESSAGE)


def connection_broke_off() -> ProviderError:
    return ProviderError(
        "connection", "The connection to the model service broke off in the middle of the reply.", mid_stream=True
    )


def credentials_refused(status: int | None, what_to_check: str, *, mid_stream: bool = False) -> ProviderError:
    return ProviderError(
        "auth",
        f"The model service refused our credentials{_shown(status)}. An administrator needs to check {what_to_check}.",
        status=status,
        mid_stream=mid_stream,
    )


def service_busy(status: int | None, *, mid_stream: bool = False) -> ProviderError:
    return ProviderError(
        "rate_limit",
        f"The model service is busy{_shown(status)}; try again in a moment.",
        status=status,
        mid_stream=mid_stream,
    )


def model_unknown_to_service(model: str, status: int | None, *, mid_stream: bool = False) -> ProviderError:
    return ProviderError(
        "bad_request",
        f"The model service does not know the model {model!r}{_shown(status)}.",
        status=status,
        mid_stream=mid_stream,
    )


def request_rejected(
    status: int | None, service_message: str | None, address: str | None, *, mid_stream: bool = False
) -> ProviderError:
    reason = f": {quote_service_message(service_message, address=address)}" if service_message else "."
    return ProviderError(
        "bad_request",
        f"The model service rejected the request{_shown(status)}{reason}",
        status=status,
        mid_stream=mid_stream,
    )


def service_not_working(status: int | None) -> ProviderError:
    return ProviderError(
        "unavailable", f"The model service is not working right now{_shown(status)}; try again later.", status=status
    )


def service_unusable(error: BaseException, address: str | None, *, mid_stream: bool = False) -> ProviderError:
    return ProviderError(
        "unavailable",
        f"The model service could not be used: {quote_service_message(str(error), address=address)}",
        mid_stream=mid_stream,
    )
