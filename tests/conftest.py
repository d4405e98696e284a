"""Fixtures shared across test packages."""
import os

import pytest

POSTGRES_URL = "postgresql://postgres@127.0.0.1:5432/test"


@pytest.fixture(scope="session")
def postgres_url() -> str:
    """URL of the local PostgreSQL test database (as a user that may create databases).

    Skips the test with the reason when nothing answers at 127.0.0.1:5432, except under
    ``CI=true``, where PostgreSQL is part of the job and its absence is a failure.
    """
    import psycopg2

    try:
        psycopg2.connect(POSTGRES_URL, connect_timeout=2).close()
    except psycopg2.OperationalError as e:
        reason = f"PostgreSQL not reachable at {POSTGRES_URL}: {str(e).strip().splitlines()[0]}"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"{reason} (CI=true requires it)")
        pytest.skip(reason)
    return POSTGRES_URL
