"""Test settings: property tests run 25 examples each, the same ones every run (a CI result does not
depend on luck); HYPOTHESIS_PROFILE=deep runs 300 fresh random ones."""

import os
from pathlib import Path

import pytest
from hypothesis import settings

settings.register_profile("quick", max_examples=25, derandomize=True)
settings.register_profile("deep", max_examples=300)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "quick"))


@pytest.fixture(scope="module")
def large_data_dds():
    """Fast DDS with a 32 MB shared-memory segment (config/fastdds_large_data.xml) for node processes
    that exchange camera frames, unless the environment already names a profile."""
    key = "FASTDDS_DEFAULT_PROFILES_FILE"
    if os.environ.get(key):
        yield
        return
    os.environ[key] = str(Path(__file__).resolve().parents[1] / "config" / "fastdds_large_data.xml")
    yield
    del os.environ[key]
