"""A real, scriptable OpenAI-compatible chat server for tests (127.0.0.1, a free port, stdlib only).

It serves POST /v1/chat/completions in a background thread. Each request is recorded, then:
  1. the first `fail_first` requests fail with `fail_status` (optionally with a Retry-After header);
  2. an `api_key`, when set, must arrive as "Authorization: Bearer KEY" (else 401 "invalid key");
  3. the handler waits `delay_s` (a number, or a callable of the request JSON) - interruptibly,
     so closing the server never waits for a sleeping handler;
  4. `reply(request_json)` decides the answer: a str is the reply text, an int a status code to
     fail with (OpenAI-style error body), a RawReply is sent verbatim (malformed replies).

    with ChatServer(reply=lambda req: "yes") as server:
        client = OpenAIChatClient(OpenAIConfig(base_url=server.url, model="m"))
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

CHAT_PATH = "/v1/chat/completions"


@dataclass
class RawReply:
    """A reply sent exactly as given (status, body bytes, extra headers)."""

    status: int
    body: bytes
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class RecordedRequest:
    path: str
    headers: dict[str, str]  # header names lower-cased
    body: Any  # the parsed JSON, or None when the body was not JSON


Reply = Callable[[dict[str, Any]], "str | int | RawReply"]


def error_reply(status: int, message: str, headers: dict[str, str] | None = None) -> RawReply:
    """An OpenAI-style error: {"error": {"message": ..., "type": ..., "code": status}}."""
    body = {"error": {"message": message, "type": HTTPStatus(status).phrase, "code": status}}
    return RawReply(status, json.dumps(body).encode(), dict(headers or {}))


def completion_reply(text: str, model: str = "test-model") -> RawReply:
    body = {
        "id": "chatcmpl-test",
        "object": "chat.completion",
        "model": model,
        "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
    }
    return RawReply(200, json.dumps(body).encode())


class ChatServer:
    """See the module docstring. `url` is the base URL ending in /v1; `requests` the record."""

    def __init__(
        self,
        reply: Reply | str = "ok",
        *,
        fail_first: int = 0,
        fail_status: int = 500,
        retry_after: str | None = None,
        delay_s: float | Callable[[dict[str, Any]], float] = 0.0,
        api_key: str | None = None,
    ):
        self.reply = reply
        self.fail_first = fail_first
        self.fail_status = fail_status
        self.retry_after = retry_after
        self.delay_s = delay_s
        self.api_key = api_key
        self.requests: list[RecordedRequest] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        self._httpd.daemon_threads = True  # a handler still writing never blocks close()
        self._httpd.chat = self  # type: ignore[attr-defined]  # how the handler finds us
        self._thread = threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)

    @property
    def port(self) -> int:
        return int(self._httpd.server_address[1])

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def start(self) -> ChatServer:
        self._thread.start()
        return self

    def close(self) -> None:
        self._stop.set()  # wakes handlers sleeping in delay_s
        if self._thread.is_alive():
            self._httpd.shutdown()
        self._httpd.server_close()

    def __enter__(self) -> ChatServer:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def prompts(self) -> list[str]:
        """The text part of the last user message of every recorded request, in arrival order."""
        return [user_text(r.body) for r in self.requests]

    # --- called from handler threads --------------------------------------------------------

    def _record(self, request: RecordedRequest) -> int:
        with self._lock:
            self.requests.append(request)
            return len(self.requests)  # 1-based arrival number

    def _respond(self, number: int, request: RecordedRequest) -> RawReply:
        if number <= self.fail_first:
            headers = {"Retry-After": self.retry_after} if self.retry_after is not None else {}
            return error_reply(self.fail_status, f"scripted failure {number}", headers)
        if self.api_key is not None and request.headers.get("authorization") != f"Bearer {self.api_key}":
            return error_reply(401, "invalid key")
        if not isinstance(request.body, dict):
            return error_reply(400, "request body is not a JSON object")
        delay = self.delay_s(request.body) if callable(self.delay_s) else self.delay_s
        if delay > 0 and self._stop.wait(delay):
            return error_reply(503, "server closing")
        try:
            outcome = self.reply(request.body) if callable(self.reply) else self.reply
        except Exception as exc:  # a bug in a test's script: say so instead of dropping the connection
            return error_reply(500, f"reply script raised {type(exc).__name__}: {exc}")
        if isinstance(outcome, RawReply):
            return outcome
        if isinstance(outcome, int):
            return error_reply(outcome, f"scripted status {outcome}")
        return completion_reply(outcome, model=str(request.body.get("model", "")))


def user_text(body: Any) -> str:
    """The text of the last user message (a plain string or the text parts of a list)."""
    content = [m for m in body["messages"] if m["role"] == "user"][-1]["content"]
    if isinstance(content, str):
        return content
    return "".join(p["text"] for p in content if p["type"] == "text")


class _Handler(BaseHTTPRequestHandler):
    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length)
        try:
            body = json.loads(raw.decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError):
            body = None
        request = RecordedRequest(self.path, {k.lower(): v for k, v in self.headers.items()}, body)
        chat: ChatServer = self.server.chat  # type: ignore[attr-defined]
        if self.path != CHAT_PATH:
            self._send(error_reply(404, f"no route {self.path}"))
            return
        self._send(chat._respond(chat._record(request), request))

    def _send(self, reply: RawReply) -> None:
        try:
            self.send_response(reply.status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(reply.body)))
            for name, value in reply.headers.items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(reply.body)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up (its timeout test); nothing to tell it

    def log_message(self, format: str, *args: Any) -> None:
        pass  # keep test output clean
