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


def test_the_service_unit_in_the_readme_starts_the_bot_and_restarts_it_on_failure():
    import configparser
    import shlex

    from bot.cli import _parser

    readme = (PROJECT / "README.md").read_text(encoding="utf-8")
    block = re.search(r"```ini\n(.+?)```", readme, re.DOTALL)
    assert block, "the README shows a systemd unit"
    unit = configparser.ConfigParser(strict=False)
    unit.read_string(block.group(1))
    command = shlex.split(unit["Service"]["ExecStart"])
    assert command[1:3] == ["-m", "bot"]
    assert _parser().parse_args(command[3:]).run.__name__ == "run_serve"
    assert unit["Service"]["Restart"] == "on-failure" and "EnvironmentFile" in unit["Service"]


def test_every_package_folder_is_in_the_package_list():
    """A subpackage missing from `pyproject.toml` works in an editable install and is absent from a
    wheel (`bot.timeline` was)."""
    import tomllib

    listed = set(tomllib.loads((PROJECT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"])
    found = {
        ".".join(init.parent.relative_to(PROJECT).parts)
        for top in ("bot", "index", "evals")
        for init in (PROJECT / top).rglob("__init__.py")
    }
    assert found == listed
