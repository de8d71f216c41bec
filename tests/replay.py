"""A local HTTP server that replays cassettes (and synthetic responses) and logs every request.

Tests point sources at it through the config (``sources.<name>.url``); it listens on 127.0.0.1
only. Each request is logged with its arrival time and headers, so tests can count requests,
check rates, and prove a key was sent (and then that it landed nowhere else).
"""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qsl, urlencode, urlsplit

from vcr.persisters.filesystem import FilesystemPersister
from vcr.serializers import yamlserializer

from etl.declared.mappings import load_mappings

CASSETTES = Path(__file__).resolve().parent.parent / "cassettes"
#: the sources of the pipeline issue; tests that count requests switch the leaderboards off
CORE = ["artificial_analysis", "artificial_analysis_pro", "huggingface", "huggingface_config", "openrouter", "lmarena"]
#: two catalogs both live at /results.json on their own hosts: served here under a prefix
HOST_PREFIX = {"bigcode-bench.github.io": "/bigcodebench", "evalplus.github.io": "/evalplus"}
Reply = tuple[int, dict[str, str], bytes]


def _path(url: str) -> str:
    """Where this server serves a declared URL: its path, under its host's prefix if it has one."""
    parts = urlsplit(url)
    return HOST_PREFIX.get(parts.netloc, "") + parts.path


def key_of(url: str) -> str:
    parts = urlsplit(url)
    query = urlencode(sorted(parse_qsl(parts.query)))
    return parts.path + ("?" + query if query else "")


class ReplayServer:
    def __init__(self, cassettes: list[str] | None = None):
        self.routes: dict[str, Reply] = {}
        self.dynamic: list[Callable[[str], Reply | None]] = []
        self.scripts: dict[str, list] = {}  # path -> replies served in order (the last one repeats)
        self.log: list[dict] = []
        self.lock = threading.Lock()
        for name in cassettes or []:
            self.add_cassette(CASSETTES / name)
        server = self

        class Handler(BaseHTTPRequestHandler):
            def setup(self) -> None:
                super().setup()
                # headers and body go out in two writes: without this, Nagle + delayed ACK add 40 ms
                self.request.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

            def do_GET(self) -> None:  # noqa: N802
                with server.lock:
                    server.log.append({"t": time.monotonic(), "path": self.path, "headers": dict(self.headers)})
                reply = server.reply(self.path)
                if callable(reply):  # a fault that writes (or does not write) the response itself
                    reply(self)
                    return
                status, headers, body = reply
                self.send_response(status)
                for k, v in headers.items():
                    self.send_header(k, v)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def add_cassette(self, path: Path) -> None:
        requests_, responses = FilesystemPersister.load_cassette(str(path), yamlserializer)
        for req, rec in zip(requests_, responses, strict=True):
            headers = {
                k: ", ".join(v)
                for k, v in rec["headers"].items()
                if k.lower() not in ("content-length", "content-encoding", "transfer-encoding", "connection")
            }
            body = rec["body"]["string"]
            prefix = HOST_PREFIX.get(urlsplit(req.uri).netloc, "")
            self.routes[prefix + key_of(req.uri)] = (
                rec["status"]["code"],
                headers,
                body if isinstance(body, bytes) else body.encode(),
            )

    def route(self, path: str, status: int = 200, body: object = b"", headers: dict[str, str] | None = None) -> None:
        raw = body if isinstance(body, bytes) else json.dumps(body).encode()
        self.routes[key_of(path)] = (status, headers or {"Content-Type": "application/json"}, raw)

    def script(self, path: str, replies: list) -> None:
        """Serve ``replies`` in order at ``path``: (status, headers, body) tuples or callables."""
        self.scripts[key_of(path)] = list(replies)

    def reply(self, path: str) -> Reply:
        key = key_of(path)
        script = self.scripts.get(key)
        if script:
            return script.pop(0) if len(script) > 1 else script[0]
        if key in self.routes:
            return self.routes[key]
        for fn in self.dynamic:
            found = fn(key)
            if found is not None:
                return found
        return (
            404,
            {"Content-Type": "application/json", "X-Error-Code": "RepoNotFound"},
            b'{"error": "Repository not found"}',
        )

    def count(self, prefix: str = "") -> int:
        return sum(1 for r in self.log if r["path"].startswith(prefix))

    def __enter__(self) -> ReplayServer:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    def sources(self, rate_limit: float = 1000.0, only: list[str] | None = None) -> dict[str, dict]:
        """Config ``sources:`` overrides that point every shipped source here (fast by default), at
        the paths of their declared URLs (and companions); with ``only``, every other source is
        switched off."""
        out = {}
        for name, source in load_mappings().sources.items():
            out[name] = {"url": self.url + _path(source.url), "rate_limit": rate_limit}
            if source.companions:
                out[name]["companions"] = {k: self.url + _path(c["url"]) for k, c in source.companions.items()}
        for name in out:
            if only is not None and name not in only:
                out[name] = {"enabled": False}
        return out
