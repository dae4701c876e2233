"""Shared fixtures: everything runs on data the project ships or generates."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
MODELS = ROOT / "models"
DEFAULT_MODEL = MODELS / "ste-bp-mnist-default.npz"
SMALL_MODEL = MODELS / "ste-bp-mnist-small.npz"

os.environ.setdefault("NUMBA_CACHE_DIR", str(ROOT / ".numba_cache"))


@pytest.fixture(scope="session")
def small_model_path() -> Path:
    assert SMALL_MODEL.is_file(), f"shipped model {SMALL_MODEL} is missing"
    return SMALL_MODEL


@pytest.fixture(scope="session")
def default_model_path() -> Path:
    assert DEFAULT_MODEL.is_file(), f"shipped model {DEFAULT_MODEL} is missing"
    return DEFAULT_MODEL
