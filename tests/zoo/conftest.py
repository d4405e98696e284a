import pytest


@pytest.fixture(scope="session")
def _measure_cache_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("xdg-cache")


@pytest.fixture
def measure_cache(_measure_cache_dir, monkeypatch):
    """One measure cache ($XDG_CACHE_HOME) for the zoo tests: a model is built and counted once."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(_measure_cache_dir))
    return _measure_cache_dir
