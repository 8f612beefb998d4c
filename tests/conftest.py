"""Test settings: property tests run 25 examples each; HYPOTHESIS_PROFILE=deep runs 300."""

import os

from hypothesis import settings

settings.register_profile("quick", max_examples=25)
settings.register_profile("deep", max_examples=300)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "quick"))
