"""The evals' settings: where the benchmark and training data lie.

The defaults are the team's `../shared/benchmarks` and `../shared/datasets` beside the checkout; a
user's clone has no such folder, so the benchmark commands say so instead of failing deep inside.
"""

from __future__ import annotations

from pathlib import Path

from pydantic_settings import BaseSettings, SettingsConfigDict

TEAM_SHARED = Path(__file__).resolve().parent.parent.parent / "shared"


class EvalSettings(BaseSettings):
    """`RAGBOT_BENCHMARKS_DIR`: the folder holding `squad2-dev/` and `rtqa-dev/`;
    `RAGBOT_DATASETS_DIR`: the training data the judge is fitted on (`squad11-train-explorer/`)."""

    model_config = SettingsConfigDict(env_prefix="RAGBOT_", env_file=".env", extra="ignore")

    benchmarks_dir: Path = TEAM_SHARED / "benchmarks"
    datasets_dir: Path = TEAM_SHARED / "datasets"
