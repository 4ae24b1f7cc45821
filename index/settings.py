"""The index's settings: where the sources and the index live, the model, the chunking.

Read from `RAGBOT_*` environment variables or `.env`, and only in entry points (`python -m index`,
and `bot.wiring`, which composes every package's settings); the core takes a `BuildSettings`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from index.build import BuildSettings
from index.chunking import DEFAULT_CHUNK_OVERLAP, DEFAULT_CHUNK_SIZE
from index.embedding import DEFAULT_MODEL
from index.milvus_store import MilvusTarget

ENV = SettingsConfigDict(env_prefix="RAGBOT_", env_file=".env", extra="ignore", populate_by_name=True)


class IndexSettings(BaseSettings):
    """`RAGBOT_SOURCES_DIR`, `RAGBOT_INDEX_DIR`, `RAGBOT_MODEL`, `RAGBOT_CHUNK_SIZE`, `RAGBOT_STORE`, ..."""

    model_config = ENV

    sources_dir: Path = Path("sources")
    index_dir: Path = Path(".ragbot/index")
    model: str = DEFAULT_MODEL
    chunk_size: int = Field(DEFAULT_CHUNK_SIZE, ge=100, le=8000)
    chunk_overlap: int = Field(DEFAULT_CHUNK_OVERLAP, ge=0, le=5)
    index_type: str = "auto"
    multilingual: bool = Field(True, description="embed sentences for questions in other languages")
    build_device: Literal["auto", "cpu", "cuda"] = Field(
        "auto", description="where `index build` embeds: a GPU when torch sees one, else the CPU"
    )
    store: Literal["faiss", "milvus"] = Field("faiss", description="the index folder, or Milvus")
    milvus_uri: str = Field("http://127.0.0.1:19530", description="a Milvus Lite server or a cluster")
    milvus_collection: str = Field("ragbot", pattern=r"^[A-Za-z_][A-Za-z0-9_]{0,150}$")
    milvus_token: SecretStr | None = Field(None, description='"user:password" or an API key')

    def build_settings(self) -> BuildSettings:
        """What the build needs of these settings."""
        return BuildSettings(
            self.sources_dir,
            self.index_dir,
            self.chunk_size,
            self.chunk_overlap,
            self.index_type,
            self.multilingual,
            self._milvus_target(),
        )

    def _milvus_target(self) -> MilvusTarget | None:
        if self.store != "milvus":
            return None
        token = self.milvus_token.get_secret_value() if self.milvus_token else None
        return MilvusTarget(self.milvus_uri, self.milvus_collection, token)
