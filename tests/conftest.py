import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
# Beside the checkout, or beside the folder that holds it (a git worktree one level down).
SHARED_SOURCES = next((d / "shared" / "sources" for d in (ROOT.parent, ROOT.parent.parent)
                       if (d / "shared" / "sources").is_dir()), ROOT.parent / "shared" / "sources")
sys.path.insert(0, str(ROOT))


@pytest.fixture(autouse=True)
def _isolated_state(tmp_path_factory, monkeypatch):
    """Keep every test away from the user's cache and Hub credentials."""
    monkeypatch.setenv("MTS_CACHE_DIR", str(tmp_path_factory.mktemp("cache")))
    monkeypatch.delenv("MTS_SOURCES", raising=False)
    monkeypatch.delenv("MTS_DATA_DIR", raising=False)


@pytest.fixture
def shared_sources() -> Path:
    if not (SHARED_SOURCES / "multitaskbench" / "multitaskbench.csv").is_file():
        pytest.skip("../shared/sources is not beside this checkout")
    return SHARED_SOURCES
