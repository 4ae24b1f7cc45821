"""The bot's settings: answering, Telegram, and the optional language model.

Each is read from its environment variables or `.env` by `bot.wiring`, the one place that
composes the settings of every package; the core classes take plain arguments.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Literal

from pydantic import AliasChoices, Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from bot.answering import DEFAULT_MAX_QUESTION_CHARS, DEFAULT_READER_DIR, DEFAULT_TOP_K, AnswerOptions


class AnswerSettings(BaseSettings):
    """`RAGBOT_TOP_K`, `RAGBOT_MAX_QUESTION_CHARS`, `RAGBOT_JUDGE` (reader | rules | model), `RAGBOT_AS_OF`,
    `RAGBOT_READER_DIR`."""

    model_config = SettingsConfigDict(env_prefix="RAGBOT_", env_file=".env", extra="ignore")

    top_k: int = Field(DEFAULT_TOP_K, ge=1, le=50)
    max_question_chars: int = Field(DEFAULT_MAX_QUESTION_CHARS, ge=10)
    judge: Literal["rules", "model", "reader"] = "rules"
    reader_dir: Path = Field(DEFAULT_READER_DIR, description="where the reader is exported to, once")
    as_of: date | None = Field(
        None, description='the day taken as "now"; unset: the day each question is asked'
    )

    def options(self) -> AnswerOptions:
        return AnswerOptions(
            top_k=self.top_k,
            max_question_chars=self.max_question_chars,
            judge=self.judge,
            reader_dir=self.reader_dir,
            as_of=self.as_of,
        )


class TelegramSettings(BaseSettings):
    """`TELEGRAM_BOT_TOKEN`, `TELEGRAM_API_BASE`, `RAGBOT_ALLOWED_IDS`, ..."""

    model_config = SettingsConfigDict(
        env_prefix="RAGBOT_", env_file=".env", extra="ignore", populate_by_name=True
    )

    telegram_bot_token: SecretStr | None = Field(
        None,
        validation_alias=AliasChoices("TELEGRAM_BOT_TOKEN", "RAGBOT_TELEGRAM_BOT_TOKEN"),
    )
    telegram_api_base: str = Field(
        "https://api.telegram.org/bot",
        validation_alias=AliasChoices("TELEGRAM_API_BASE", "RAGBOT_TELEGRAM_API_BASE"),
    )
    allowed_ids: list[int] = Field(default_factory=list, description="user or chat ids; empty = everyone")
    rate_limit_per_minute: int = Field(20, ge=1)
    webhook_secret: SecretStr | None = None
    feedback_path: Path = Path(".ragbot/feedback.jsonl")
    feedback_days: int = Field(90, ge=1, description="votes older than this are deleted")
    watch_sources: bool = False
    token_check_seconds: float = Field(
        300.0, gt=0, description="how often the running bot re-checks its token"
    )
    typing_after_seconds: float = Field(
        0.5, ge=0, description='"typing..." is shown only for answers that take longer than this'
    )
    answer_processes: int = Field(
        2, ge=0, le=64, description="worker processes that answer questions; 0: the bot's own process"
    )


class LlmSettings(BaseSettings):
    """`RAGBOT_LLM_BASE_URL`, `RAGBOT_LLM_MODEL`, `RAGBOT_LLM_API_KEY`, `RAGBOT_LLM_TIMEOUT`."""

    model_config = SettingsConfigDict(env_prefix="RAGBOT_LLM_", env_file=".env", extra="ignore")

    base_url: str | None = None
    model: str | None = None
    api_key: SecretStr | None = None
    timeout: float = Field(20.0, gt=0)
