"""glibc malloc thresholds for CPU training."""
import platform
import sys

import pytest

from mlpose.runtime.malloc import keep_freed_memory


@pytest.mark.skipif(not sys.platform.startswith("linux") or platform.libc_ver()[0] != "glibc",
                    reason="mallopt is glibc's")
def test_glibc_takes_the_thresholds():
    assert keep_freed_memory() is True
    assert keep_freed_memory(64 << 20) is True  # callable again, any limit


def test_other_platforms_are_left_alone(monkeypatch):
    monkeypatch.setattr(sys, "platform", "darwin")
    assert keep_freed_memory() is False
