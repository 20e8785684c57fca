"""Tiny local servers for the executor tests: a webhook and an OpenAI-compatible chat endpoint."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from tests.conftest import serve_in_thread


class Recorder(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), Handler)
        self.requests: list[dict[str, Any]] = []  # {"path", "headers", "body"}
        self.status = 200  # what the webhook answers
        self.lock = threading.Lock()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


class Handler(BaseHTTPRequestHandler):
    server: Recorder

    def log_message(self, format: str, *args: Any) -> None:  # quiet test output
        pass

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        with self.server.lock:
            self.server.requests.append(
                {"path": self.path, "headers": dict(self.headers), "body": body}
            )
            count = len(self.server.requests)
        if self.path == "/v1/chat/completions":
            self._chat(body, count)
        else:
            self._send(self.server.status, {"received": body.get("run_id")})

    def _chat(self, body: dict[str, Any], count: int) -> None:
        if self.headers.get("Authorization") != "Bearer test-key":
            self._send(
                401,
                {
                    "error": {
                        "message": "Incorrect API key provided",
                        "type": "invalid_request_error",
                    }
                },
            )
            return
        question = body["messages"][-1]["content"]
        answer = f"answer {count} to {question} (model {body['model']}, {len(body['messages'])} messages)"
        self._send(200, {"id": f"chatcmpl-{count}", "object": "chat.completion", "model": body["model"],
                         "choices": [{"index": 0, "finish_reason": "stop",
                                      "message": {"role": "assistant", "content": answer}}]})  # fmt: skip

    def _send(self, status: int, payload: dict[str, Any]) -> None:
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


@contextmanager
def serving() -> Iterator[Recorder]:
    server = Recorder()
    with serve_in_thread(server):
        yield server
