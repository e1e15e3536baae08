"""Shared pytest configuration: hypothesis profiles.

``ci`` (the default, and what CI runs) is derandomized so a run is a pure
function of the code; ``thorough`` draws fresh examples and more of them.
"""

from hypothesis import HealthCheck, settings

settings.register_profile(
    "ci",
    derandomize=True,
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
    print_blob=True,
)
settings.register_profile(
    "thorough",
    derandomize=False,
    max_examples=300,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
    print_blob=True,
)
settings.load_profile("ci")

pytest_plugins = ["pytester"]
