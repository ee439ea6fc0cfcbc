"""Shared test configuration: hypothesis profiles.

``dev`` (default) runs fewer examples for a quick edit-test loop; ``ci`` runs more and is chosen
automatically when the environment variable ``CI`` is set (as it is on CI). Pick one by hand with
``HYPOTHESIS_PROFILE=ci pytest``.
"""

import os

from hypothesis import HealthCheck, settings

settings.register_profile(
    "dev", max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
settings.register_profile(
    "ci", max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow],
    derandomize=True,
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci" if os.environ.get("CI") else "dev"))
