"""llama.cpp's own C++ `llama-server` as a real OpenAI-compatible server, for tests and bench.

`make llama-server` (scripts/build-llama-server.sh) builds it from the llama.cpp tree inside the
llama-cpp-python sdist and caches it, keyed by version; nothing here builds it. Where it is
absent, the `llama_server_url` fixture skips its tests with the reason and the command.

Use from a test module (importing the fixtures makes them available there):

    from tests.llama_server import LLAMA_SERVER_MODEL, llama_server, llama_server_url  # noqa: F401

    def test_remote(llama_server_url: str) -> None:
        # FACTORY_LLM_REMOTE_URL=llama_server_url (the API's base URL, http://127.0.0.1:PORT/v1),
        # FACTORY_LLM_REMOTE_MODEL=LLAMA_SERVER_MODEL: the bundled SmolLM2

`llama_server` yields a `LlamaServer(url, proc)`, the same two fields as
tests/openai_servers.py's `LlamaCppServer`, for the tests that kill the server mid-stream.
"""

from __future__ import annotations

import os
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

import httpx
import pytest

from tests.servers import free_port, wait_until

LLAMA_SERVER_MODEL = "SmolLM2-135M-Instruct"  # the name it answers to (--alias)
BUILD_HINT = "build it with `make llama-server` (scripts/build-llama-server.sh, ~20 min on 2 cores)"


def llama_cpp_version() -> str:
    try:
        return version("llama-cpp-python")
    except PackageNotFoundError:
        return "0.3.36"


def cached_binary() -> Path:
    """Where scripts/build-llama-server.sh caches the binary for this llama-cpp-python."""
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return cache / "segmento-pulse" / f"llama-server-{llama_cpp_version()}" / "llama-server"


def find_binary() -> Path | None:
    """$LLAMA_SERVER_BIN when set, else the cached build; None when neither is executable."""
    named = os.environ.get("LLAMA_SERVER_BIN")
    path = Path(named) if named else cached_binary()
    return path if path.is_file() and os.access(path, os.X_OK) else None


def tuning(threads: int | str, n_ctx: int = 4096, n_batch: int = 512) -> list[str]:
    """llama-server set up as the factory sets up llama-cpp-python: one slot, the same context,
    batch and threads (prompt evaluation on every CPU this process may use, as
    llama-cpp-python's default n_threads_batch), no flash attention (llama-cpp-python's
    default), the GGUF's own chat template (jinja, llama-server's default)."""
    return [
        "--ctx-size", str(n_ctx),
        "--batch-size", str(n_batch),
        "--ubatch-size", str(n_batch),
        "--threads", str(threads),
        "--threads-batch", str(len(os.sched_getaffinity(0))),
        "--parallel", "1",
        "--flash-attn", "off",
        "--no-webui",
    ]  # fmt: skip


def command(binary: Path, gguf: Path, port: int, threads: int, n_ctx: int = 4096) -> list[str]:
    where = ["--model", str(gguf), "--alias", LLAMA_SERVER_MODEL]
    where += ["--host", "127.0.0.1", "--port", str(port)]
    return [str(binary), *where, *tuning(threads, n_ctx)]


@dataclass
class LlamaServer:
    url: str  # the OpenAI API's base URL, http://127.0.0.1:PORT/v1
    proc: subprocess.Popen[bytes]

    @property
    def root(self) -> str:
        """Where llama-server's own endpoints are (/health, /completion, /slots)."""
        return self.url.removesuffix("/v1")


def _healthy(root: str) -> bool:
    try:
        return httpx.get(f"{root}/health", timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


@contextmanager
def running(
    gguf: Path,
    threads: int | None = None,
    n_ctx: int = 4096,
    binary: Path | None = None,
    startup_timeout: float = 120.0,
) -> Iterator[LlamaServer]:
    """Run llama-server on a free loopback port until the block ends, once /health answers
    200 (the model is loaded)."""
    binary = binary or find_binary()
    if binary is None:
        raise FileNotFoundError(f"no llama-server at {cached_binary()}: {BUILD_HINT}")
    port = free_port()
    root = f"http://127.0.0.1:{port}"
    cmd = command(binary, gguf, port, threads or os.cpu_count() or 1, n_ctx)
    with tempfile.TemporaryFile() as log:
        proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT)
        try:
            with suppress(TimeoutError):
                wait_until(
                    lambda: proc.poll() is not None or _healthy(root),
                    timeout=startup_timeout,
                    interval=0.1,
                )
            if proc.poll() is not None or not _healthy(root):
                log.seek(0)
                tail = log.read().decode(errors="replace")[-2000:]
                raise RuntimeError(f"llama-server did not start ({' '.join(cmd)}):\n{tail}")
            yield LlamaServer(f"{root}/v1", proc)
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


@pytest.fixture(scope="session")
def llama_server(gguf_path: Path) -> Iterator[LlamaServer]:
    """A real llama-server serving the bundled SmolLM2 on a free loopback port, for the whole
    session; skips (with the reason) where the binary has not been built."""
    binary = find_binary()
    if binary is None:
        pytest.skip(f"llama-server not built (looked for {cached_binary()}): {BUILD_HINT}")
    with running(gguf_path, binary=binary) as server:
        yield server


@pytest.fixture(scope="session")
def llama_server_url(llama_server: LlamaServer) -> str:
    """The OpenAI API base URL (.../v1) of `llama_server`: FACTORY_LLM_REMOTE_URL's form."""
    return llama_server.url
