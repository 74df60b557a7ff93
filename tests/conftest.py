"""Suite-wide settings: the hypothesis profiles of the two test tiers.

``bash tools/run_tests.sh`` (CI) runs hypothesis with its defaults (100 examples unless a test says
otherwise); ``--fast`` passes ``--hypothesis-profile=fast``: a tenth of the examples. Tests that set
their own ``max_examples`` scale it by ``settings.default.max_examples / 100`` (see
``tests/detectors/test_merlin_codec.py``) so that the profile reaches them too.
"""
from __future__ import annotations

from hypothesis import settings

settings.register_profile("full", settings())
settings.register_profile("fast", max_examples=10)
