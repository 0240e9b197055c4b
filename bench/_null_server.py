"""A server that does no work: what MLflow's client alone spends on a call.

``python bench/_null_server.py PORT UPSTREAM FILE`` answers every call the way UPSTREAM (a
real server) answered the same call the first time it was seen, and then from memory; takes
artifact uploads by reading and discarding them; and serves artifact downloads from FILE
with ``sendfile``. The mlflow client's time against it is its own cost plus a minimal
server's (stdlib HTTP parsing): a floor no server can go under by much.

Stdlib only: it runs under the bench's mlflow venv.
"""

from __future__ import annotations

import http.server
import json
import os
import sys
import urllib.error
import urllib.request

ARTIFACT_FILES = "/api/2.0/mlflow-artifacts/artifacts/"


class NullHandler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as the client's session expects
    disable_nagle_algorithm = True  # headers and body go out as separate writes
    upstream = ""
    file = ""
    recorded: dict[tuple[str, str, bytes], tuple[int, bytes]] = {}

    def do_GET(self) -> None:
        if self.path.startswith(ARTIFACT_FILES):
            self._send_file()
        else:
            self._replay()

    def do_PUT(self) -> None:
        remaining = int(self.headers.get("Content-Length") or 0)
        while remaining > 0:
            remaining -= len(self.rfile.read(min(remaining, 1 << 20)))
        self._reply(200, b"{}")

    do_POST = do_PATCH = do_DELETE = do_GET

    def _replay(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        key = (self.command, self.path, body)
        if key not in self.recorded:
            request = urllib.request.Request(
                self.upstream + self.path, data=body or None, method=self.command
            )
            request.add_header("Content-Type", "application/json")
            try:
                with urllib.request.urlopen(request) as answer:
                    self.recorded[key] = (answer.status, answer.read())
            except urllib.error.HTTPError as error:
                self.recorded[key] = (error.code, error.read())
        self._reply(*self.recorded[key])

    def _send_file(self) -> None:
        size = os.path.getsize(self.file)
        self.send_response(200)
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Content-Length", str(size))
        self.end_headers()
        self.wfile.flush()
        with open(self.file, "rb") as source:
            os.sendfile(self.wfile.fileno(), source.fileno(), 0, size)

    def _reply(self, status: int, body: bytes) -> None:
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass  # quiet: the bench times the client, not the log


def main() -> None:
    port, NullHandler.upstream, NullHandler.file = int(sys.argv[1]), sys.argv[2], sys.argv[3]
    server = http.server.ThreadingHTTPServer(("127.0.0.1", port), NullHandler)
    print(json.dumps({"port": port}), flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
