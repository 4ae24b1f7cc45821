"""The command line as a user runs it: `python -m bot ask|chat` in a fresh process."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from index.build import BuildSettings
from tests.conftest import PROJECT

pytestmark = pytest.mark.e2e


def run_bot(build: BuildSettings, *args: str, stdin: bytes = b"") -> subprocess.CompletedProcess[bytes]:
    """`python -m bot ARGS` in a fresh process, as a user whose sources and index are `build`'s."""
    env = {
        **os.environ,
        "RAGBOT_INDEX_DIR": str(build.index_dir),
        "RAGBOT_SOURCES_DIR": str(build.sources_dir),
    }
    command = [sys.executable, "-m", "bot", *args]
    result = subprocess.run(command, input=stdin, cwd=PROJECT, capture_output=True, timeout=180, env=env)
    assert result.returncode == 0, result.stderr.decode()
    return result


def test_cli_ask_json_reads_stdin_and_prints_one_object_per_line(seed_build):
    stdin = b"Who represented New Zealand at the summit?\nWhat is the capital of France?\n"
    lines = [
        json.loads(line)
        for line in run_bot(seed_build, "ask", "--json", "-", stdin=stdin).stdout.splitlines()
    ]
    assert [line["abstained"] for line in lines] == [False, True]
    first = lines[0]
    assert "Luxon" in first["answer"] and first["index_version"]
    fields = {"n", "source", "title", "publisher", "date", "url", "quote", "start", "end"}
    assert fields <= set(first["citations"][0])


def test_cli_ask_prints_sources_list(seed_build):
    out = run_bot(seed_build, "ask", "Why did Albanese skip the summit?").stdout.decode()
    assert "[1]" in out and "Sources:" in out and "Xpert.digital, 2025-06-25" in out


def test_cli_chat_resolves_follow_ups(seed_build):
    out = run_bot(seed_build, "chat", stdin=b"Why did Albanese stay away?\nand Ishiba?\n\n").stdout.decode()
    first, second = out.split("> ")[1:3]
    assert "Albanese" in first and "Ishiba" in second and "Sources:" in second


def test_cli_ask_survives_bytes_that_are_not_utf8_on_stdin(seed_build):
    stdin = b"Who represented New Zealand at the summit?\n\xff\xfe caf\xe9?\n"
    result = run_bot(seed_build, "ask", "--json", "-", stdin=stdin)
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert len(lines) == 2 and "Luxon" in lines[0]["answer"] and b"Traceback" not in result.stderr


def test_cli_ask_as_of_a_date_uses_only_sources_published_by_then(seed_build):
    question = "Who did Australia send to the NATO summit?"
    later = json.loads(run_bot(seed_build, "ask", "--json", "--as-of", "2025-07-01", question).stdout)
    assert not later["abstained"] and later["as_of"] == "2025-07-01"
    assert later["answer"].startswith("(25 June 2025) ") and "Marles" in later["answer"]
    earlier = json.loads(run_bot(seed_build, "ask", "--json", "--as-of", "2025-06-20", question).stdout)
    assert earlier["abstained"] and earlier["citations"] == []  # both seeds were published after it


EARLY_PARSE = """
import sys
from bot import early
asked = ["Which automaker has overtaken Tesla?", "How many troops did South Korea send?"]
early.start(asked)
from bot.judge import question
early = question.analyse_many(asked)
loaded_for_early = "spacy" in sys.modules
later = question.analyse_many(["Who went to The Hague?"])
print([loaded_for_early, "spacy" in sys.modules, *(f"{a.wh}|{a.focus}" for a in early + later)])
"""


def test_an_ask_parses_its_questions_in_a_second_process_while_it_loads():
    result = subprocess.run(
        [sys.executable, "-c", EARLY_PARSE], cwd=PROJECT, capture_output=True, text=True, timeout=180
    )
    assert result.returncode == 0, result.stderr
    # The first two came from the forked worker, with no spaCy in this process; a question not
    # asked for early is parsed here.
    expected = [False, True, "which|automaker", "how many|troop", "who|"]
    assert result.stdout.split("\n")[0] == str(expected)
