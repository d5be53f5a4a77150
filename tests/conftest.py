"""Shared fixtures: an isolated data dir per test, and one real seed index per session."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from index.config import Settings

ROOT = Path(__file__).resolve().parents[1]
SEEDS = ROOT / "seeds"


@pytest.fixture(autouse=True)
def hoidap_home(tmp_path, monkeypatch) -> Path:
    """Every test writes into its own data dir; no HOIDAP_* setting leaks in from the shell."""
    for key in list(os.environ):
        if key.startswith("HOIDAP_") and key != "HOIDAP_CHROMIUM":
            monkeypatch.delenv(key)
    home = tmp_path / "hoidap-home"
    monkeypatch.setenv("HOIDAP_HOME", str(home))
    return home


@pytest.fixture(scope="session")
def seed_settings(tmp_path_factory) -> Settings:
    """Settings of a data dir holding the five seed articles, indexed once with the real default embedder (e5 on onnxruntime)."""
    from index.pipeline import run_index

    home = tmp_path_factory.mktemp("seed-index")
    settings = Settings.load(env={"HOIDAP_HOME": str(home)})
    summary = run_index([SEEDS], settings)
    assert summary.files == 5 and summary.chunks > 20, summary
    return settings


@pytest.fixture(scope="session")
def seed_assistant(seed_settings):
    from assistant.answering.assistant import Assistant

    assistant = Assistant(seed_settings)
    assistant.warm_up()
    return assistant


@pytest.fixture
def fake_settings(tmp_path) -> Settings:
    """A data dir using the deterministic hashing embedder (fast plumbing tests)."""
    return Settings.load(
        env={"HOIDAP_HOME": str(tmp_path / "fake-home"), "HOIDAP_EMBEDDER": "fake"}
    )
