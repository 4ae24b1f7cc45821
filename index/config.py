"""The product's one settings object, read from environment variables and `.env`.

Built only in entry points (the CLIs, the Telegram app, the eval runner) and passed down; core
classes take explicit arguments. It lives in `index`, the bottom layer, so every layer can use it.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import AliasChoices, Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from index.build import BuildSettings
from index.embedding import DEFAULT_MODEL, SentenceTransformerEmbedder


class Settings(BaseSettings):
    """Every setting, with its environment variable `RAGBOT_<NAME>` unless noted."""

    model_config = SettingsConfigDict(env_prefix="RAGBOT_", env_file=".env", extra="ignore", populate_by_name=True)

    sources_dir: Path = Path("sources")
    index_dir: Path = Path(".ragbot/index")
    model: str = DEFAULT_MODEL
    chunk_size: int = Field(800, ge=100, le=8000)
    chunk_overlap: int = Field(1, ge=0, le=5)
    index_type: str = "auto"
    top_k: int = Field(10, ge=1, le=50)
    max_question_chars: int = Field(1000, ge=10)

    telegram_bot_token: SecretStr | None = Field(
        None, validation_alias=AliasChoices("TELEGRAM_BOT_TOKEN", "RAGBOT_TELEGRAM_BOT_TOKEN")
    )
    telegram_api_base: str = Field(
        "https://api.telegram.org/bot", validation_alias=AliasChoices("TELEGRAM_API_BASE", "RAGBOT_TELEGRAM_API_BASE")
    )
    allowed_ids: list[int] = Field(default_factory=list, description="user or chat ids; empty = everyone")
    rate_limit_per_minute: int = Field(20, ge=1)
    webhook_secret: SecretStr | None = None
    feedback_path: Path = Path(".ragbot/feedback.jsonl")
    watch_sources: bool = False

    llm_base_url: str | None = None
    llm_model: str | None = None
    llm_api_key: SecretStr | None = None
    llm_timeout: float = Field(20.0, gt=0)

    def embedder(self) -> SentenceTransformerEmbedder:
        """The configured model; its ONNX export (for fast start-up) is kept beside the index."""
        return SentenceTransformerEmbedder(self.model, cache_dir=self.index_dir / "encoder")

    def build_settings(self) -> BuildSettings:
        return BuildSettings(self.sources_dir, self.index_dir, self.chunk_size, self.chunk_overlap, self.index_type)
