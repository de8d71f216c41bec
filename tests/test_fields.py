"""Every mapped (field, source) pair, checked against the recorded raw value after its declared
transform. The expected values are computed here from the cassette bodies, independently of the
engine's matcher and transform code; a mapping added without an entry below fails the meta-test."""

from __future__ import annotations

import json
import math
from datetime import datetime
from decimal import Decimal

import pytest
from replay import CASSETTES
from vcr.persisters.filesystem import FilesystemPersister
from vcr.serializers import yamlserializer

from etl import ModelInfo, Pipeline, PipelineConfig
from etl.mappings import load_mappings

MODEL = ModelInfo(
    "Llama 3.1 70B Instruct",
    hf_id="meta-llama/Meta-Llama-3.1-70B-Instruct",
    ids={"lmarena": "Meta-Llama-3.1-70B-Instruct"},
)


def _bodies(name: str) -> list[dict]:
    _, responses = FilesystemPersister.load_cassette(str(CASSETTES / name), yamlserializer)
    return [json.loads(r["body"]["string"]) for r in responses if r["status"]["code"] == 200]


def _find(entries, key, value):
    [hit] = [e for e in entries if e.get(key) == value]
    return hit


@pytest.fixture(scope="module")
def raw():
    aa = [e for page in _bodies("artificial_analysis_free.yaml") for e in page["data"]]
    pro = _bodies("artificial_analysis_pro.yaml")[0]["data"]
    rows = [r["row"] for page in _bodies("lmarena_rows.yaml") for r in page["rows"]]
    hf = {b["id"]: b for b in _bodies("huggingface_models.yaml")}
    return {
        "artificial_analysis": _find(aa, "slug", "llama-3-1-instruct-70b"),
        "artificial_analysis_pro": _find(pro, "slug", "llama-3-1-instruct-70b"),
        "openrouter": _find(_bodies("openrouter_models.yaml")[0]["data"], "id", "meta-llama/llama-3.1-70b-instruct"),
        "lmarena": _find(rows, "model_name", "Meta-Llama-3.1-70B-Instruct"),
        "huggingface": hf[MODEL.hf_id],
        "huggingface_config": _bodies("huggingface_config.yaml")[0],
    }


def _hf_score(entry, now):
    d, likes = entry["downloads"], entry["likes"]
    months = (now - datetime.fromisoformat(entry["createdAt"].replace("Z", "+00:00"))).days / 30.437
    age = 1.5 if months > 12 else None
    assert age is not None, "the constructed repo is older than a year"
    return round(
        min(max(0.2007 * math.log2(d) - 0.6667, 0), 4) + min(max(0.477 * math.log2(likes) - 0.756, 0), 4) + age, 2
    )


def _per_token(value: str) -> float:
    return float(Decimal(value) * 1000000)


# (section, field, source) -> expected value from the raw entry (r) and the fetch time (now)
EXPECTED = {
    ("model_specs", "input_price", "artificial_analysis_pro"): lambda r, now: r["pricing"]["price_1m_input_tokens"],
    ("model_specs", "input_price", "artificial_analysis"): lambda r, now: r["pricing"]["price_1m_input_tokens"],
    ("model_specs", "input_price", "openrouter"): lambda r, now: _per_token(r["pricing"]["prompt"]),
    ("model_specs", "output_price", "artificial_analysis_pro"): lambda r, now: r["pricing"]["price_1m_output_tokens"],
    ("model_specs", "output_price", "artificial_analysis"): lambda r, now: r["pricing"]["price_1m_output_tokens"],
    ("model_specs", "output_price", "openrouter"): lambda r, now: _per_token(r["pricing"]["completion"]),
    ("model_specs", "context_window", "artificial_analysis_pro"): lambda r, now: r["context_window_tokens"],
    ("model_specs", "context_window", "openrouter"): lambda r, now: r["context_length"],
    ("model_specs", "param_count", "artificial_analysis_pro"): lambda r, now: r["parameters"]["total"],
    ("model_specs", "param_count", "huggingface"): lambda r, now: round(r["safetensors"]["total"] / 1e9, 2),
    ("model_specs", "architecture", "huggingface_config"): lambda r, now: "dense",  # no expert key in config.json
    ("model_specs", "architecture", "artificial_analysis_pro"): lambda r, now: (
        "moe" if r["parameters"]["active"] < r["parameters"]["total"] else "dense"
    ),
    ("community_score", "lm_sys_arena_score", "lmarena"): lambda r, now: round(r["rating"], 2),
    ("community_score", "hf_score", "huggingface"): lambda r, now: _hf_score(r, now),
    ("entity_benchmarks", "artificial_analysis", "artificial_analysis_pro"): lambda r, now: r["evaluations"][
        "artificial_analysis_intelligence_index"
    ],
    ("entity_benchmarks", "artificial_analysis", "artificial_analysis"): lambda r, now: r["evaluations"][
        "artificial_analysis_intelligence_index"
    ],
    ("dev_benchmarks", "GPQA diamond", "artificial_analysis_pro"): lambda r, now: round(
        r["evaluations"]["gpqa_diamond"] * 100, 2
    ),
    ("dev_benchmarks", "Humanity's Last Exam", "artificial_analysis_pro"): lambda r, now: round(
        r["evaluations"]["hle"] * 100, 2
    ),
    ("dev_benchmarks", "SciCode", "artificial_analysis_pro"): lambda r, now: round(
        r["evaluations"]["scicode"] * 100, 2
    ),
}


def test_every_mapped_pair_has_an_expectation():
    mapped = {(s, f, c.source) for s, f, cands in load_mappings().fields() for c in cands}
    assert mapped == set(EXPECTED)


@pytest.fixture(scope="module")
def staged(warm_store, tmp_path_factory):
    store = tmp_path_factory.mktemp("fields") / "etl.sqlite"
    store.write_bytes(warm_store.read_bytes())
    config = PipelineConfig.from_dict(
        {"cache_path": str(store), "sources": {"artificial_analysis_pro": {"enabled": True}}}
    )
    config.offline = True
    pipeline = Pipeline(config)
    pipeline.transform([MODEL])
    return {(r["section"], r["field"], r["source"]): r for r in pipeline.store.staged(MODEL.name)}


@pytest.mark.parametrize("key", sorted(EXPECTED), ids=lambda k: f"{k[1]}<-{k[2]}")
def test_filled_value_equals_raw_after_transform(key, staged, raw):
    section, field, source = key
    row = staged[key]
    now = datetime.fromisoformat(row["fetched_at"])
    expected = EXPECTED[key](raw[source], now)
    assert row["value"] == expected
    assert isinstance(row["value"], type(expected)) or isinstance(expected, int | float)


def test_pro_values_come_first_and_the_free_route_fills_what_pro_lacks(staged):
    chosen = {k: v for k, v in staged.items() if v["chosen"]}
    assert chosen[("entity_benchmarks", "artificial_analysis", "artificial_analysis_pro")]["value"] == 13.1
    assert ("entity_benchmarks", "artificial_analysis", "artificial_analysis") not in chosen
    assert staged[("entity_benchmarks", "artificial_analysis", "artificial_analysis")]["value"] == 6.8
