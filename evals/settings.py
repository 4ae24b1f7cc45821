"""The evals' settings: where the benchmark data lies (`RAGBOT_BENCHMARKS_DIR`).

The default is the team's `../shared/benchmarks` beside the checkout; a user's clone has no such
folder, so the benchmark commands say so instead of failing deep inside.
"""

from __future__ import annotations

from pathlib import Path

from pydantic_settings import BaseSettings, SettingsConfigDict

TEAM_BENCHMARKS = Path(__file__).resolve().parent.parent.parent / "shared" / "benchmarks"


class EvalSettings(BaseSettings):
    """`RAGBOT_BENCHMARKS_DIR`: the folder holding `squad2-dev/` and `rtqa-dev/`."""

    model_config = SettingsConfigDict(env_prefix="RAGBOT_", env_file=".env", extra="ignore")

    benchmarks_dir: Path = TEAM_BENCHMARKS
