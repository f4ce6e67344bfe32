"""Shared fixtures: the real datasets beside the project (../shared/datasets or $NLPKIT_SHARED_DATA)."""

import os
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The folder of real datasets; tests that need it skip with a reason when it is absent (a user's clone)."""
    folder = Path(os.environ.get("NLPKIT_SHARED_DATA", REPO_ROOT.parent / "shared" / "datasets"))
    if not folder.is_dir():
        pytest.skip(f"real datasets not found at {folder} (set NLPKIT_SHARED_DATA)")
    return folder
