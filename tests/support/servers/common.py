"""Machinery shared by the fake model servers: threaded HTTP, recording, knobs.

Each server is a real HTTP/1.1 server on 127.0.0.1 (port 0 picks a free
port) running in daemon threads, so the real client libraries talk to it over
sockets exactly as they would to the real service. Tests change the public
behaviour attributes between requests; every request is recorded.
"""

from __future__ import annotations

import argparse
import json
import re
import socket
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any, ClassVar, Self
from urllib.parse import urlsplit


@dataclass
class RecordedRequest:
    """One request as the server received it."""

    method: str
    path: str
    # Header names are lower-cased so tests need not guess the client's casing.
    headers: dict[str, str]
    raw_body: bytes
    # The parsed JSON body, or None when the body was empty or not JSON.
    body: Any
    # The model the request asked for (from the body or the URL path).
    model: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)


def split_tokens(text: str) -> list[str]:
    """Split text into word tokens whose concatenation is the text itself."""
    return re.findall(r"^\s+|\S+\s*", text)


def count_words(texts: Sequence[str]) -> int:
    """Count whitespace-separated words: a deterministic stand-in for token counts."""
    return sum(len(text.split()) for text in texts)


class FakeModelServer:
    """Base class of the fake servers; subclasses implement `route` and `send_error_status`.

    Behaviour attributes, read at each request so tests may change them
    between requests:

    - `reply`: the reply text; None answers "You said: <last user message>".
    - `first_token_delay`: seconds before the first streamed token.
    - `token_delay`: seconds between streamed tokens.
    - `error_status`: answer with this HTTP error (service's own error shape).
    - `error_times`: how many requests get `error_status`; None means all.
    - `header_delay`: seconds to wait before sending the status line, to
      provoke a client read timeout.
    - `cut_after_chunks`: close the connection after this many text chunks,
      without the stream's proper ending.
    - `stream_error_after_chunks`: send the service's in-stream error event
      after this many text chunks, then end the response.
    """

    # Shown in `--help` of the standalone command.
    description: ClassVar[str] = "fake model server"

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        reply: str | None = None,
        first_token_delay: float = 0.0,
        token_delay: float = 0.0,
        error_status: int | None = None,
        error_times: int | None = None,
        header_delay: float = 0.0,
        cut_after_chunks: int | None = None,
        stream_error_after_chunks: int | None = None,
        verbose: bool = False,
    ) -> None:
        self.host = host
        self.requested_port = port
        self.reply = reply
        self.first_token_delay = first_token_delay
        self.token_delay = token_delay
        self.error_status = error_status
        self.error_times = error_times
        self.header_delay = header_delay
        self.cut_after_chunks = cut_after_chunks
        self.stream_error_after_chunks = stream_error_after_chunks
        self.verbose = verbose
        self.requests: list[RecordedRequest] = []
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._http_server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- life cycle ---------------------------------------------------------

    def start(self) -> Self:
        """Bind and serve in a daemon thread; return self."""
        handler = type("BoundHandler", (Exchange,), {"model_server": self})
        http_server = _QuietThreadingHTTPServer((self.host, self.requested_port), handler)
        self._http_server = http_server
        self._stopping.clear()
        # A short poll interval keeps stop() quick: shutdown() waits for one poll.
        self._thread = threading.Thread(
            target=http_server.serve_forever, kwargs={"poll_interval": 0.05}, name=type(self).__name__, daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving; wakes handlers that are sleeping in a delay."""
        self._stopping.set()
        if self._http_server is not None:
            self._http_server.shutdown()
            self._http_server.server_close()
            self._http_server = None
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    @property
    def port(self) -> int:
        """The bound port (only while running)."""
        if self._http_server is None:
            raise RuntimeError("The server is not running.")
        return int(self._http_server.server_address[1])

    @property
    def url(self) -> str:
        """Root URL of the running server, without a trailing slash."""
        return f"http://{self.host}:{self.port}"

    @property
    def cli_url(self) -> str:
        """The URL a client should be configured with; printed by the command."""
        return self.url

    # -- helpers for subclasses and tests -----------------------------------

    @property
    def last_request(self) -> RecordedRequest:
        """The most recent request; AssertionError when none arrived."""
        with self._lock:
            if not self.requests:
                raise AssertionError("The server has received no request.")
            return self.requests[-1]

    def take_error_status(self) -> int | None:
        """Return the error status this request must get, counting down `error_times`."""
        with self._lock:
            if self.error_status is None:
                return None
            if self.error_times is None:
                return self.error_status
            if self.error_times <= 0:
                return None
            self.error_times -= 1
            return self.error_status

    def pause(self, seconds: float) -> bool:
        """Sleep unless the server stops meanwhile; return False when it is stopping."""
        if seconds <= 0:
            return not self._stopping.is_set()
        return not self._stopping.wait(seconds)

    def reply_text(self, last_user_text: str) -> str:
        """The reply for a request whose last user message is `last_user_text`."""
        return self.reply if self.reply is not None else f"You said: {last_user_text}"

    def _record(self, request: RecordedRequest) -> None:
        with self._lock:
            self.requests.append(request)

    # -- to implement -------------------------------------------------------

    def route(self, exchange: Exchange, recorded: RecordedRequest) -> None:
        """Answer a request that is not to fail."""
        raise NotImplementedError

    def send_error_status(self, exchange: Exchange, recorded: RecordedRequest, status: int) -> None:
        """Answer with `status` in the service's own error shape."""
        raise NotImplementedError

    def describe(self, recorded: RecordedRequest) -> None:
        """Fill `recorded.model` from the request; subclasses know where it is."""


class _QuietThreadingHTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    # Do not wait for handler threads on close: a client's idle keep-alive
    # connection would hold server_close() until the client goes away.
    block_on_close = False
    # A real service takes a burst of connections; the default backlog of 5 resets some of 100 at once.
    request_queue_size = 256

    def handle_error(self, request: Any, client_address: Any) -> None:
        # Clients that give up (timeouts in tests) break pipes; that is expected.
        pass


class Exchange(BaseHTTPRequestHandler):
    """Reads, records and dispatches one request; offers writing helpers."""

    protocol_version = "HTTP/1.1"
    # Each write goes out at once, as real model servers send their events (uvicorn, Go's net/http): with Nagle's
    # algorithm on, a streamed event on a kept-alive connection waited up to 40 ms for the client's delayed ACK.
    disable_nagle_algorithm = True
    model_server: ClassVar[FakeModelServer]

    def do_GET(self) -> None:
        self._dispatch()

    def do_POST(self) -> None:
        self._dispatch()

    def _dispatch(self) -> None:
        server = self.model_server
        length = int(self.headers.get("Content-Length") or 0)
        raw_body = self.rfile.read(length) if length else b""
        try:
            body = json.loads(raw_body) if raw_body else None
        except ValueError:
            body = None
        recorded = RecordedRequest(
            method=self.command,
            path=urlsplit(self.path).path,
            headers={name.lower(): value for name, value in self.headers.items()},
            raw_body=raw_body,
            body=body,
        )
        server.describe(recorded)
        server._record(recorded)
        try:
            if not server.pause(server.header_delay):
                self.cut()
                return
            status = server.take_error_status()
            if status is not None:
                server.send_error_status(self, recorded, status)
            else:
                server.route(self, recorded)
        except (BrokenPipeError, ConnectionResetError):
            # The client gave up (read timeout, cancelled stream).
            self.close_connection = True

    # -- writing helpers ----------------------------------------------------

    def send_json(self, status: int, payload: Any, headers: dict[str, str] | None = None) -> None:
        """Send a complete JSON response."""
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)

    def begin_chunked(self, content_type: str, headers: dict[str, str] | None = None) -> None:
        """Send status 200 and headers for a chunked (streamed) body."""
        self.send_response(200)
        self.send_header("Content-Type", content_type)
        self.send_header("Transfer-Encoding", "chunked")
        self.send_header("Cache-Control", "no-cache")
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()

    def write_chunk(self, data: bytes) -> None:
        """Send one HTTP chunk right away."""
        if data:
            self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
            self.wfile.flush()

    def end_chunked(self) -> None:
        """Send the terminating empty chunk."""
        self.wfile.write(b"0\r\n\r\n")
        self.wfile.flush()

    def cut(self) -> None:
        """Close the connection at once, whatever was sent so far."""
        self.close_connection = True
        try:
            self.wfile.flush()
            self.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

    def log_message(self, format: str, *args: Any) -> None:
        if self.model_server.verbose:
            super().log_message(format, *args)


def run_command(server_class: type[FakeModelServer], argv: Sequence[str] | None = None) -> None:
    """Run a server from the command line until interrupted, printing its URL."""
    parser = argparse.ArgumentParser(description=server_class.description)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port (default)")
    parser.add_argument("--first-token-delay", type=float, default=0.0, help="seconds before the first token")
    parser.add_argument("--token-rate", type=float, default=0.0, help="tokens per second; 0 sends them at once")
    parser.add_argument("--reply", default=None, help="fixed reply text (default: echo the last user message)")
    parser.add_argument("--verbose", action="store_true", help="log each request")
    arguments = parser.parse_args(argv)
    server = server_class(
        host=arguments.host,
        port=arguments.port,
        reply=arguments.reply,
        first_token_delay=arguments.first_token_delay,
        token_delay=1.0 / arguments.token_rate if arguments.token_rate > 0 else 0.0,
        verbose=arguments.verbose,
    )
    server.start()
    print(server.cli_url, flush=True)
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()
