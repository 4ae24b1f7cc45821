"""The README's two commands are the ones CI runs, so a user's first try is what CI checked."""

from __future__ import annotations

import re

import pytest

from tests.conftest import PROJECT

pytestmark = pytest.mark.unit


def test_ci_runs_the_readme_test_command_in_a_fresh_environment():
    ci = (PROJECT / ".ci" / "run").read_text(encoding="utf-8")
    readme = (PROJECT / "README.md").read_text(encoding="utf-8")
    install = re.search(r'^INSTALL="(.+)"$', ci, re.MULTILINE)
    assert install, "CI names its install command in INSTALL"
    assert f"{install.group(1)} && python -m pytest" in readme
    assert "python3 -m venv" in ci and 'eval "$INSTALL"' in ci and "python -m pytest" in ci


def test_readme_ask_command_installs_without_the_test_extra():
    readme = (PROJECT / "README.md").read_text(encoding="utf-8")
    assert "pip install torch==2.13.0 -e . && python -m bot ask" in readme
