"""A real headless browser (Debian's chromium, driven by Playwright) against the real mesh."""

from __future__ import annotations

import contextlib
import shutil
import socket
import threading
from collections.abc import Iterator

import pytest

from tests.e2e.conftest import mesh  # noqa: F401  (the same mesh, started for this package)

CHROMIUM = shutil.which("chromium")
NO_BROWSER = "chromium is not installed: apt-get install chromium (the browser tests need it)"


# Package scope, not session: Playwright's sync API keeps an event loop running in the main
# thread while it lives, and every asyncio test after this package would fail on it.
@pytest.fixture(scope="package")
def browser() -> Iterator[object]:
    if CHROMIUM is None:
        pytest.skip(NO_BROWSER)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        # --no-sandbox: CI runs as root, where chromium's sandbox refuses to start.
        b = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=["--no-sandbox"])
        yield b
        b.close()


@pytest.fixture
def page(browser: object) -> Iterator[object]:
    context = browser.new_context()  # type: ignore[attr-defined]
    context.set_default_timeout(240_000)  # 2 shared cores, other jobs running
    pg = context.new_page()
    yield pg
    context.close()


class Proxy:
    """A loopback TCP proxy to the gateway whose connections a test can sever (`cut`) or
    refuse altogether (`stop`, then `start` again on the same port)."""

    def __init__(self, upstream_port: int) -> None:
        self.upstream_port = upstream_port
        self.requests: list[bytes] = []  # each request's first line
        self._lock = threading.Lock()
        self._open: list[socket.socket] = []
        self._listener: socket.socket | None = None
        self.port = 0
        self.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(64)
        self.port = listener.getsockname()[1]
        self._listener = listener
        threading.Thread(target=self._accept, args=(listener,), daemon=True).start()

    def stop(self) -> None:
        if self._listener is not None:
            with contextlib.suppress(OSError):  # wakes the thread blocked in accept()
                self._listener.shutdown(socket.SHUT_RDWR)
            self._listener.close()
            self._listener = None
        self.cut()

    def cut(self) -> None:
        """Sever every open connection, as a network drop would."""
        with self._lock:
            conns, self._open = self._open, []
        for conn in conns:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)
            conn.close()

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return
            upstream = socket.create_connection(("127.0.0.1", self.upstream_port))
            with self._lock:
                self._open += [client, upstream]
            threading.Thread(target=self._pump, args=(client, upstream, True), daemon=True).start()
            threading.Thread(target=self._pump, args=(upstream, client, False), daemon=True).start()

    def _pump(self, src: socket.socket, dst: socket.socket, record: bool) -> None:
        try:
            while data := src.recv(65536):
                if record and data.startswith((b"GET ", b"POST ")):
                    self.requests.append(data.split(b"\r\n", 1)[0])
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for s in (src, dst):
                with contextlib.suppress(OSError):
                    s.shutdown(socket.SHUT_RDWR)

    def count(self, marker: bytes) -> int:
        return sum(marker in r for r in self.requests)


@pytest.fixture
def proxy(mesh) -> Iterator[Proxy]:  # noqa: F811
    p = Proxy(int(mesh.gateway.rsplit(":", 1)[1]))
    yield p
    p.stop()
