"""A hostile HTTP server on 127.0.0.1 for the API client: each behaviour a test case.

Behaviours (per request, in order from `script`; the last one repeats):
  truncated   Content-Length larger than the body sent, then the connection closes
  chunked     a broken chunked body
  badgzip     Content-Encoding: gzip on a body that is not gzip
  drip        one byte every `drip_every` seconds (a slow-loris answer)
  echo        a GraphQL error whose message echoes the request's headers (the Authorization token)
  nan429      429 with Retry-After: nan
  huge429     429 with Retry-After: 1e9
  huge        a 200 whose body is larger than the client's cap (streamed)
  redirect    307 (method kept) to itself
  ftp         307 to an ftp:// URL (a scheme the client cannot follow)
  ok          a valid empty-profile answer
Every loop is bounded: the server stops with the test.
"""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class FaultServer:
    def __init__(self, script: list[str], *, drip_every: float = 0.2, huge_bytes: int = 60_000_000):
        self.script = list(script)
        self.drip_every = drip_every
        self.huge_bytes = huge_bytes
        self.seen: list[dict] = []

    def __enter__(self):
        fs = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *a):
                pass

            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                fs.seen.append({"headers": dict(self.headers), "body": body})
                mode = fs.script.pop(0) if len(fs.script) > 1 else fs.script[0]
                try:
                    getattr(self, f"_{mode}")()
                except (BrokenPipeError, ConnectionResetError):
                    pass

            def _head(self, code, headers):
                self.send_response(code)
                for k, v in headers.items():
                    self.send_header(k, v)
                self.end_headers()

            def _ok(self):
                blob = json.dumps({"data": {"v3UserProfile": {"id": "id-x"}}}).encode()
                self._head(200, {"Content-Type": "application/json", "Content-Length": str(len(blob))})
                self.wfile.write(blob)

            def _truncated(self):
                self._head(200, {"Content-Type": "application/json", "Content-Length": "1000"})
                self.wfile.write(b'{"data": {"v3User')
                self.wfile.flush()
                self.close_connection = True

            def _chunked(self):
                self._head(200, {"Content-Type": "application/json", "Transfer-Encoding": "chunked"})
                self.wfile.write(b"5\r\n{\"dat\r\nZZ\r\nnot a chunk\r\n")
                self.wfile.flush()
                self.close_connection = True

            def _badgzip(self):
                blob = b"this is not gzip at all"
                self._head(200, {"Content-Type": "application/json", "Content-Encoding": "gzip",
                                 "Content-Length": str(len(blob))})
                self.wfile.write(blob)

            def _drip(self):
                blob = json.dumps({"data": {"v3UserProfile": {"id": "id-x"}}}).encode()
                self._head(200, {"Content-Type": "application/json", "Content-Length": str(len(blob))})
                for i in range(len(blob)):  # bounded: the body's length
                    self.wfile.write(blob[i:i + 1])
                    self.wfile.flush()
                    time.sleep(fs.drip_every)

            def _echo(self):
                msg = "bad request; headers were: " + "; ".join(f"{k}: {v}" for k, v in self.headers.items())
                blob = json.dumps({"errors": [{"message": msg}], "data": None}).encode()
                self._head(200, {"Content-Type": "application/json", "Content-Length": str(len(blob))})
                self.wfile.write(blob)

            def _nan429(self):
                self._head(429, {"Retry-After": "nan", "Content-Length": "0"})

            def _huge429(self):
                self._head(429, {"Retry-After": "1e9", "Content-Length": "0"})

            def _huge(self):
                self._head(200, {"Content-Type": "application/json", "Content-Length": str(fs.huge_bytes)})
                chunk = b" " * 1_000_000
                sent = 0
                while sent < fs.huge_bytes:  # bounded by huge_bytes
                    self.wfile.write(chunk)
                    sent += len(chunk)

            def _redirect(self):
                self._head(307, {"Location": self.path, "Content-Length": "0"})

            def _ftp(self):
                self._head(307, {"Location": "ftp://127.0.0.1/x", "Content-Length": "0"})

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()
