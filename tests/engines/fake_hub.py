"""A Hugging Face hub for one repository over plain HTTP on 127.0.0.1 (no xet): the model
info, tree and resolve endpoints huggingface_hub's snapshot_download uses, with downloads
slowed per 64 KiB chunk so progress can be watched."""

from __future__ import annotations

import hashlib
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class FakeHub:
    def __init__(self, repo: str, files: dict[str, bytes], chunk_delay_s: float = 0.0) -> None:
        self.repo, self.files, self.delay = repo, files, chunk_delay_s
        self.sha = "a" * 40
        self.downloads: list[str] = []
        hub = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def _json(self, value: object) -> None:
                data = json.dumps(value).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_HEAD(self) -> None:
                self._serve(body=False)

            def do_GET(self) -> None:
                if self.path.startswith(f"/api/models/{hub.repo}/tree/"):
                    self._json([{"type": "file", "path": n, "size": len(b),
                                 "oid": hashlib.sha1(b).hexdigest()}
                                for n, b in hub.files.items()])
                elif self.path.startswith(f"/api/models/{hub.repo}"):
                    self._json({"id": hub.repo, "sha": hub.sha,
                                "siblings": [{"rfilename": n} for n in hub.files]})
                else:
                    self._serve(body=True)

            def _serve(self, body: bool) -> None:
                prefix = f"/{hub.repo}/resolve/"
                name = self.path[len(prefix):].split("?")[0].partition("/")[2] \
                    if self.path.startswith(prefix) else None
                if name not in hub.files:
                    self.send_response(404)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                data = hub.files[name]
                self.send_response(200)
                self.send_header("X-Repo-Commit", hub.sha)
                self.send_header("ETag", f'"{hashlib.sha256(data).hexdigest()}"')
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                if body:
                    hub.downloads.append(name)
                    for i in range(0, len(data), 1 << 16):
                        self.wfile.write(data[i:i + (1 << 16)])
                        if hub.delay:
                            time.sleep(hub.delay)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self._thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
