"""Transforms and compute rules (hf_score, architecture, param_count) on small literal inputs."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from etl.declared.mappings import Candidate
from etl.declared.transforms import Context, apply, architecture, hf_score, param_count


def cand(**kw) -> Candidate:
    return Candidate(section="s", field="f", source="x", rank=0, where="w", **kw)


@pytest.mark.parametrize(
    ("raw", "kw", "expected"),
    [
        ("0.00000045", {"type": "number", "scale": 1000000}, 0.45),  # decimal, not 0.44999999999999996
        ("0.0000032", {"type": "number", "scale": 1000000}, 3.2),
        ("-1", {"type": "number", "scale": 1000000, "null_if": ("-1", "0")}, None),
        ("0", {"type": "number", "scale": 1000000, "null_if": ("-1", "0")}, None),
        (0.0, {"null_if": (0,)}, None),
        (0.409, {"scale": 100, "round": 2}, 40.9),
        ("abc", {"type": "number"}, None),
        ("12", {}, "12"),  # no numeric transform: kept as is
        ("12", {"scale": 2}, None),  # a string where a number is due, without type: number
        (131072, {"type": "integer"}, 131072),
        (1.5, {"type": "integer"}, None),
        (True, {"map": {"true": "moe", "false": "dense"}}, "moe"),
        (70553706496, {"divide": 1000000000, "round": 2}, 70.55),
    ],
)
def test_transform_vocabulary(raw, kw, expected):
    assert apply(cand(**kw), raw) == expected


def test_hf_score_formula_on_known_values():
    now = datetime(2026, 1, 1, tzinfo=UTC)
    # old repo: age part 1.5; downloads 1024 -> 0.2007*10-0.6667 = 1.3403; likes 64 -> 0.477*6-0.756 = 2.106
    assert hf_score({"downloads": 1024, "likes": 64, "createdAt": "2020-01-01T00:00:00.000Z"}, Context(now)) == 4.95
    # brand new, few downloads and likes: only the age part (0.5 * months)
    fresh = hf_score({"downloads": 5, "likes": 1, "createdAt": "2025-12-17T00:00:00Z"}, Context(now))
    assert fresh == round(0.5 * (15 / 30.437), 2)
    # clamps: huge numbers stop at 4 + 4 + 1.5
    assert hf_score({"downloads": 10**12, "likes": 10**9, "createdAt": "2000-01-01T00:00:00Z"}, Context(now)) == 9.5
    assert hf_score({"downloads": 5}, Context(now)) is None


def test_architecture_only_from_evidence():
    assert architecture({"model_type": "glm4_moe", "n_routed_experts": 160}) == "moe"
    assert architecture({"model_type": "mixtral", "num_local_experts": 8}) == "moe"
    assert architecture({"model_type": "llama"}) == "dense"
    assert architecture({"parameters": {"total": 357, "active": 32}}) == "moe"
    assert architecture({"parameters": {"total": 70.6, "active": 70.6}}) == "dense"
    assert architecture({"id": "x"}) is None  # no evidence: unknown stays null, never "dense"


def test_param_count_units_and_packed_dtypes():
    entry = {"safetensors": {"parameters": {"BF16": 70553706496}, "total": 70553706496}}
    assert param_count(entry) == 70553706496  # a raw count by default: LLMScoreEngine's tiers compare counts
    assert param_count(entry, Context(param_count_unit="billions")) == 70.55
    assert param_count({"safetensors": {"parameters": {"U32": 1000, "BF16": 10}, "total": 1010}}) is None
    assert param_count(70.6) == 70_600_000_000  # billions in, a count out
    assert param_count(70.6, Context(param_count_unit="billions")) == 70.6
    assert param_count(7_000_000_000, Context(param_count_unit="billions")) == 7
    assert param_count({"id": "no safetensors"}) is None
