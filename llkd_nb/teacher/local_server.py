"""A local OpenAI-compatible server to try the server teacher offline: llama-cpp-python's, as a child process.

    with llama_cpp_server(smollm2_gguf(), "smollm2") as url:   # http://127.0.0.1:<free port>/v1
        teacher = ServerTeacher.connect(url, "smollm2", tokenizer="offline:smollm2-135m")

It serves 127.0.0.1 only, on a free port, and stops when the block ends. It loads the model with
``logits_all`` (its default), which the echoed prompt log-probabilities need. Two limits:

- its Python code formats those log-probabilities slowly (it sorts the whole vocabulary at every
  prompt token): fine for tests and small runs; at scale, serve the teacher with vLLM or SGLang;
- it lines each echoed log-probability up with its token correctly only when the prompt's first token
  is the model's BOS token. SmolLM2's chat template starts with ``<|im_start|>``, its BOS; for another
  GGUF, compare a few texts with the native engine (``teacher_engine: llama-cpp``) first.
"""

from __future__ import annotations

import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import requests


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextmanager
def llama_cpp_server(gguf: Path, alias: str, threads: int = 2, context: int = 2048, log: Path | None = None,
                     startup_timeout: float = 120.0) -> Iterator[str]:
    """Serve ``gguf`` under the model name ``alias``; yields the ``/v1`` URL once the server answers."""
    port = free_port()
    command = [sys.executable, "-m", "llama_cpp.server", "--model", str(gguf), "--model_alias", alias,
               "--host", "127.0.0.1", "--port", str(port), "--n_ctx", str(context), "--n_threads", str(threads)]
    scratch = tempfile.TemporaryDirectory(prefix="llama-cpp-server-")
    log = log or Path(scratch.name) / "server.log"
    with log.open("w") as out:
        process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}/v1"
    try:
        deadline = time.monotonic() + startup_timeout
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"llama-cpp-python's server exited with {process.returncode}:\n{log.read_text()[-2000:]}")
            try:
                if requests.get(f"{url}/models", timeout=2).ok:
                    break
            except requests.ConnectionError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"llama-cpp-python's server did not answer within {startup_timeout} s:\n"
                                   f"{log.read_text()[-2000:]}")
            time.sleep(0.5)
        yield url
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        scratch.cleanup()
