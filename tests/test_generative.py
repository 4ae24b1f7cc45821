"""Generative answers: the sentence check, the fallbacks, and a real model server on 127.0.0.1."""

from __future__ import annotations

import json
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from bot.answering import Answerer
from bot.generative import ChatClient, check_sentences
from index.retriever import LiveIndex
from index.store import load_snapshot

pytestmark = pytest.mark.integration

MARLES = (
    "Australia's Prime Minister Anthony Albanese also canceled his participation and instead sent Defense "
    "Minister Richard Marles. Albanese, who had only been re -elected in May 2025 for a second term and had "
    "won a historical landslide victory, concentrated on urgent domestic matters."
)
KOREA = (
    "Seoul, which already allocates around 2.3% of GDP to defense, is likely to face pressure to increase "
    "its contributions."
)


def test_supported_sentence_is_kept(embedder):
    result = check_sentences(
        "Albanese stayed home and sent Defense Minister Richard Marles [1].", [MARLES, KOREA], embedder.embed
    )
    assert [s.passages for s in result.kept] == [(1,)] and not result.dropped


def test_invented_sentences_are_dropped(embedder):
    generated = (
        "Albanese is a role model for other nations [1]. Australia sent a foreign diplomat instead [1]. "
        "South Korea spends 3.2% of GDP on defense [2]."
    )
    result = check_sentences(generated, [MARLES, KOREA], embedder.embed)
    assert result.kept == []
    assert sum(result.dropped.values()) == 3
    assert result.dropped["a name or number not in the cited passage"] >= 1


def test_out_of_range_citations_are_removed(embedder):
    result = check_sentences(
        "Seoul spends around 2.3% of GDP on defense [2][7]. Marles went instead [9].",
        [MARLES, KOREA],
        embedder.embed,
    )
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
    return Answerer(
        LiveIndex(seed_build.index_dir, embedder), generator=ChatClient(base_url, "m", "sk-secret", timeout)
    )


def test_nothing_supported_falls_back_to_extractive(seed_build, embedder, fake_model):
    answer = _answerer(
        seed_build, embedder, fake_model("Bananas are yellow and Jupiter has 95 moons [1].")
    ).answer(QUESTION)
    assert answer.composer == "extractive" and answer.dropped_sentences == 1
    assert any("Richard Marles" in c.quote for c in answer.citations)


def test_a_supported_generated_sentence_is_sent_with_a_verbatim_quote(seed_build, embedder, fake_model):
    reply = "Australia sent Defense Minister Richard Marles [1]. He likes pizza [1]."
    answer = _answerer(seed_build, embedder, fake_model(reply)).answer(QUESTION)
    assert answer.composer == "generative" and answer.dropped_sentences == 1
    assert answer.answer == "(25 June 2025) Australia sent Defense Minister Richard Marles. [1]"
    snapshot = load_snapshot(seed_build.index_dir)
    assert all(snapshot.documents[c.source].text[c.start : c.end] == c.quote for c in answer.citations)
    assert "Richard Marles" in answer.citations[0].quote


def test_unanswerable_questions_never_reach_the_model(seed_build, embedder, fake_model):
    answer = _answerer(seed_build, embedder, fake_model("Paris [1].")).answer(
        "What is the capital of France?"
    )
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
