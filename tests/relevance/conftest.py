from __future__ import annotations

from pathlib import Path

import pytest

from bot.relevance import Classifier, load_classifier

REPO_CONFIG = Path(__file__).resolve().parents[2] / "config"


@pytest.fixture(scope="session")
def classifier() -> Classifier:
    return load_classifier(REPO_CONFIG)


@pytest.fixture(scope="session")
def relevance_data(data_dir: Path) -> Path:
    return data_dir / "relevance"
