"""The command line as a user runs it: `python -m bot ask|chat` in a fresh process."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from tests.conftest import PROJECT

pytestmark = pytest.mark.e2e


def test_cli_ask_json_reads_stdin_and_prints_one_object_per_line(seed_build):
    env = {
        **os.environ,
        "RAGBOT_INDEX_DIR": str(seed_build.index_dir),
        "RAGBOT_SOURCES_DIR": str(seed_build.sources_dir),
    }
    result = subprocess.run(
        [sys.executable, "-m", "bot", "ask", "--json", "-"],
        input="Who represented New Zealand at the summit?\nWhat is the capital of France?\n",
        cwd=PROJECT,
        capture_output=True,
        text=True,
        timeout=180,
        env=env,
    )
    assert result.returncode == 0, result.stderr
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert [line["abstained"] for line in lines] == [False, True]
    first = lines[0]
    assert "Luxon" in first["answer"] and first["index_version"]
    assert {"n", "source", "title", "publisher", "date", "url", "quote", "start", "end"} <= set(
        first["citations"][0]
    )


def test_cli_ask_prints_sources_list(seed_build):
    env = {
        **os.environ,
        "RAGBOT_INDEX_DIR": str(seed_build.index_dir),
        "RAGBOT_SOURCES_DIR": str(seed_build.sources_dir),
    }
    result = subprocess.run(
        [sys.executable, "-m", "bot", "ask", "Why did Albanese skip the summit?"],
        cwd=PROJECT,
        capture_output=True,
        text=True,
        timeout=180,
        env=env,
    )
    assert result.returncode == 0, result.stderr
    assert (
        "[1]" in result.stdout
        and "Sources:" in result.stdout
        and "Xpert.digital, 2025-06-25" in result.stdout
    )


def test_cli_chat_resolves_follow_ups(seed_build):
    env = {
        **os.environ,
        "RAGBOT_INDEX_DIR": str(seed_build.index_dir),
        "RAGBOT_SOURCES_DIR": str(seed_build.sources_dir),
    }
    result = subprocess.run(
        [sys.executable, "-m", "bot", "chat"],
        input="Why did Albanese stay away?\nand Ishiba?\n\n",
        cwd=PROJECT,
        capture_output=True,
        text=True,
        timeout=180,
        env=env,
    )
    assert result.returncode == 0, result.stderr
    first, second = result.stdout.split("> ")[1:3]
    assert "Albanese" in first and "Ishiba" in second and "Sources:" in second


def test_cli_ask_survives_bytes_that_are_not_utf8_on_stdin(seed_build):
    env = {
        **os.environ,
        "RAGBOT_INDEX_DIR": str(seed_build.index_dir),
        "RAGBOT_SOURCES_DIR": str(seed_build.sources_dir),
    }
    result = subprocess.run(
        [sys.executable, "-m", "bot", "ask", "--json", "-"],
        input=b"Who represented New Zealand at the summit?\n\xff\xfe caf\xe9?\n",
        cwd=PROJECT,
        capture_output=True,
        timeout=180,
        env=env,
    )
    assert result.returncode == 0, result.stderr
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert len(lines) == 2 and "Luxon" in lines[0]["answer"] and "Traceback" not in result.stderr.decode()
