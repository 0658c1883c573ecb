from __future__ import annotations

from pathlib import Path

import pytest

from bot.relevance import Classifier, load_classifier

from .metrics import MetricsLog

REPO_CONFIG = Path(__file__).resolve().parents[2] / "config"


@pytest.fixture(scope="session")
def classifier() -> Classifier:
    return load_classifier(REPO_CONFIG)


@pytest.fixture(scope="session")
def relevance_data(data_dir: Path) -> Path:
    return data_dir / "relevance"


@pytest.fixture(scope="session")
def metrics_log(tmp_path_factory: pytest.TempPathFactory) -> MetricsLog:
    """Where the precision/recall lines go: a file under this run's pytest temp folder, not the
    `-q` output (issue 16). `CIVIC_ALERTS_SHOW_METRICS=1` also shows them in the summary."""
    return MetricsLog(tmp_path_factory.getbasetemp() / "relevance-metrics.txt")
