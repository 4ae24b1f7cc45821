"""Answering in worker processes: the same answers as in the bot's own process, a rebuilt index seen by
every worker, and a killed worker replaced."""

from __future__ import annotations

import asyncio
import multiprocessing
import os
import signal
import time
from concurrent.futures import BrokenExecutor
from functools import partial

import pytest

from bot.answer_processes import AnswerProcesses
from bot.answering import Answerer
from bot.errors import BotError
from bot.settings import AnswerSettings, LlmSettings, TelegramSettings
from bot.wiring import AppSettings, make_answer_processes, open_answerer
from evals.fake_botapi import FakeBotAPI, running_bot
from index.build import BuildSettings, rebuild
from index.retriever import LiveIndex
from index.settings import IndexSettings
from tests.test_telegram import make_settings, replies_to

QUESTIONS = [
    "Why did Albanese skip the summit?",
    "Who represented New Zealand at the summit?",
    "What is the capital of France?",
]


def answer_processes(build: BuildSettings, processes: int) -> AnswerProcesses:
    index = IndexSettings(_env_file=None, sources_dir=build.sources_dir, index_dir=build.index_dir)
    opener = partial(open_answerer, index, AnswerSettings(_env_file=None), LlmSettings(_env_file=None))
    answering = AnswerProcesses(opener, processes)
    answering.wait_ready()
    return answering


async def ask_all(answering: AnswerProcesses, questions: list[str]):
    return await asyncio.gather(*(answering.answer(q) for q in questions), return_exceptions=True)


@pytest.mark.integration
def test_processes_give_the_answers_of_the_bots_own_process(seed_build, answerer: Answerer):
    answering = answer_processes(seed_build, processes=2)
    try:
        answers = asyncio.run(ask_all(answering, QUESTIONS * 4))  # more than one batch per worker
    finally:
        answering.close()
    expected = [answerer.answer(q) for q in QUESTIONS]
    assert [a.answer for a in answers] == [e.answer for e in expected] * 4
    assert [a.citations for a in answers] == [e.citations for e in expected] * 4
    assert not expected[0].abstained and expected[2].abstained


@pytest.mark.integration
def test_the_questions_of_a_killed_process_are_asked_again_of_new_ones(seed_build):
    answering = answer_processes(seed_build, processes=1)
    try:
        (worker,) = multiprocessing.active_children()
        os.kill(worker.pid, signal.SIGKILL)
        worker.join(10)
        answers = asyncio.run(ask_all(answering, QUESTIONS[:2]))
        (new_worker,) = multiprocessing.active_children()
    finally:
        answering.close()
    assert "Marles" in answers[0].answer and "Luxon" in answers[1].answer
    assert new_worker.pid != worker.pid


KILLED_BOT = """
import sys
from pathlib import Path
from index.build import BuildSettings
from tests.test_answer_processes import answer_processes

if __name__ == "__main__":
    answer_processes(BuildSettings(Path(sys.argv[1]), Path(sys.argv[2])), processes=2)
"""


@pytest.mark.integration
def test_workers_end_when_the_bot_is_killed_while_they_start(seed_build, tmp_path):
    import subprocess
    import sys

    from tests.conftest import PROJECT, process_running, wait_for_exit

    script = tmp_path / "killed_bot.py"
    script.write_text(KILLED_BOT, encoding="utf-8")
    arguments = [str(seed_build.sources_dir), str(seed_build.index_dir)]
    bot = subprocess.Popen([sys.executable, str(script), *arguments], cwd=PROJECT,
                           env={**os.environ, "PYTHONPATH": str(PROJECT)})  # fmt: skip
    workers: list[int] = []
    while len(workers) < 3 and bot.poll() is None:  # the two workers and multiprocessing's tracker
        time.sleep(0.05)
        found = subprocess.run(["pgrep", "-P", str(bot.pid)], capture_output=True, text=True).stdout
        workers = [int(pid) for pid in found.split()]
    bot.kill()  # while the workers load their models: the bot has no chance to stop them
    bot.wait()
    wait_for_exit(workers)
    assert not any(process_running(pid) for pid in workers)


@pytest.mark.integration
def test_a_question_whose_workers_die_twice_gets_the_error(seed_build):
    answering = answer_processes(seed_build, processes=1)

    async def ask_while_killing():
        asked = asyncio.ensure_future(answering.answer(QUESTIONS[0]))
        for _ in range(2):  # the worker holding the question, then its replacement
            await asyncio.sleep(0)
            worker = await _worker_started()
            os.kill(worker.pid, signal.SIGKILL)
            worker.join(10)
        return await asyncio.gather(asked, return_exceptions=True)

    try:
        (result,) = asyncio.run(ask_while_killing())
    finally:
        answering.close()
    assert isinstance(result, BrokenExecutor)


async def _worker_started():
    """The worker process of a one-worker pool, once it is running."""
    for _ in range(600):
        children = [c for c in multiprocessing.active_children() if c.is_alive()]
        if children:
            return children[0]
        await asyncio.sleep(0.05)
    raise AssertionError("no worker started")


@pytest.mark.e2e
def test_the_bot_answers_from_processes_that_see_a_rebuilt_index(embedder, fresh_build, tmp_path):
    rebuild(fresh_build, embedder)
    answering = answer_processes(fresh_build, processes=2)
    question = "How many frigates will Australia buy for its navy?"
    with FakeBotAPI() as api:
        first, second = api.message(question), api.message(question)
        try:
            serving = Answerer(LiveIndex(fresh_build.index_dir, embedder))  # its sources list; not answering
            with running_bot(make_settings(api, tmp_path), serving, processes=answering):
                api.inject(first)
                assert api.wait_for(lambda: replies_to(api, first["message"]["message_id"]))
                (fresh_build.sources_dir / "frigates.txt").write_text(
                    "Frigate plan\n\nAustralia will buy twelve new frigates for its navy over the next "
                    "decade, the defence minister said in Canberra.\n",
                    encoding="utf-8",
                )
                rebuild(fresh_build, embedder)
                time.sleep(1.2)  # each worker looks for a new snapshot at most once a second
                api.inject(second)
                assert api.wait_for(lambda: replies_to(api, second["message"]["message_id"]))
        finally:
            answering.close()
        assert "don't say" in replies_to(api, first["message"]["message_id"])[0]["text"]
        assert "twelve new frigates" in replies_to(api, second["message"]["message_id"])[0]["text"]


@pytest.mark.integration
def test_processes_that_cannot_open_the_index_stop_start_up_in_one_sentence(tmp_path):
    settings = AppSettings(
        index=IndexSettings(_env_file=None, sources_dir=tmp_path / "sources", index_dir=tmp_path / "none"),
        answer=AnswerSettings(_env_file=None),
        telegram=TelegramSettings(_env_file=None, answer_processes=1),
        llm=LlmSettings(_env_file=None),
    )
    with pytest.raises(BotError, match="answering processes could not start.*RAGBOT_ANSWER_PROCESSES=0"):
        make_answer_processes(settings)
    assert not [c for c in multiprocessing.active_children() if c.is_alive()]
