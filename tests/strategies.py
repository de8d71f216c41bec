"""Hypothesis strategies and settings shared by the property tests (random inputs, validators)."""

from __future__ import annotations

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
scalars = st.one_of(
    st.none(), st.booleans(), st.integers(-(10**6), 10**6), st.floats(allow_nan=True), st.text(max_size=12)
)
json_values = st.recursive(
    scalars,
    lambda c: st.one_of(st.lists(c, max_size=4), st.dictionaries(st.text(max_size=8), c, max_size=4)),
    max_leaves=12,
)
SECTIONS = ["entity_benchmarks", "dev_benchmarks", "community_score", "model_specs"]
FIELDS = ["MMLU", "input_price", "hf_score", "architecture", "context_window", "artificial_analysis"]
