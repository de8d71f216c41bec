"""One field, one benchmark (issue 17): a value fills a field only where the source states its
variant and version, several rows of one benchmark are ambiguous unless a rule picks one, and an
LLM Stats row on 0-100 is not multiplied again. From the real LLM Stats archive (cassettes/llm_stats.yaml,
shared/data/boards/llm_stats_llm-leaderboard.24a9ccf7.2025-10-16.tar.gz)."""

from __future__ import annotations

import io
import json
import re
import tarfile
from pathlib import Path

import pytest
from helpers import cli
from replay import CASSETTES, ReplayServer
from vcr.persisters.filesystem import FilesystemPersister
from vcr.serializers import yamlserializer

from etl import ModelInfo, Pipeline, PipelineConfig
from etl.mappings import Candidate, load_mappings
from etl.paths import compile_path
from etl.rows import Evidence, EvidenceKind, build_select
from etl.transforms import judge

GOLDEN = Path(__file__).resolve().parent / "golden" / "example"


def _archive() -> dict[str, list[dict]]:
    """model id -> its benchmarks.json rows, read from the recorded archive independently of the engine."""
    _, [response] = FilesystemPersister.load_cassette(str(CASSETTES / "llm_stats.yaml"), yamlserializer)
    body = response["body"]["string"]
    out = {}
    with tarfile.open(fileobj=io.BytesIO(body if isinstance(body, bytes) else body.encode())) as archive:
        for name in archive.getnames():
            if name.endswith("/benchmarks.json") and "/models/" in name:
                out[name.split("/")[-2]] = json.load(archive.extractfile(name))
    return out


@pytest.fixture(scope="module")
def archive() -> dict[str, list[dict]]:
    return _archive()


@pytest.fixture(scope="module")
def every_llm_stats_model(tmp_path_factory, archive):
    """Every model of the archive, pinned to its id, through the shipped mappings."""
    tmp = tmp_path_factory.mktemp("rows")
    with ReplayServer(["llm_stats.yaml"]) as server:
        config = PipelineConfig.from_dict(
            {"cache_path": str(tmp / "s.sqlite"), "sources": server.sources(only=["llm_stats"])}
        )
        pipeline = Pipeline(config)
        models = [ModelInfo(m, ids={"llm_stats": m}) for m in archive]
        pipeline.extract(models[:1])
        pipeline.transform(models)
    return {m: pipeline.store.staged(m) for m in archive}


def _candidate(bench_id: str, **extra) -> Candidate:
    path = f"$.benchmarks[?(@.benchmark_id == '{bench_id}')].normalized_score"
    return Candidate(
        "dev_benchmarks",
        "X",
        0,
        "test.yaml: fields.X[0]",
        "llm_stats",
        expr=compile_path(path),
        path=path,
        scale=100,
        round=2,
        provenance=("analysis_method", "model_benchmark_id"),
        **extra,
    )


def test_mistral_small_32_gpqa_is_never_filled_by_position(every_llm_stats_model, archive):
    rows = [r for r in archive["mistral-small-3.2-24b-instruct-2506"] if r["benchmark_id"] == "gpqa"]
    assert sorted(r["score"] for r in rows) == [0.4422, 0.4613]  # two rows, both "5-shot CoT"
    staged = [r for r in every_llm_stats_model["mistral-small-3.2-24b-instruct-2506"] if r["field"] == "GPQA diamond"]
    assert staged and not any(r["chosen"] for r in staged)
    assert all("does not state the variant" in r["rejected"] and "2 rows, none stated" in r["rejected"] for r in staged)


def test_several_rows_with_different_values_are_ambiguous_with_each_value_and_its_row(archive):
    entry = {"benchmarks": archive["mistral-small-3.2-24b-instruct-2506"]}
    cand = _candidate("gpqa", evidence=Evidence(EvidenceKind.DEFINITION, "a test: no row rule"))
    raw, value, refused = judge(cand, entry)
    assert value is None
    assert refused.startswith("ambiguous: 2 rows give different values: 44.22 (")
    assert "46.13 (" in refused and "declare `select:` at test.yaml: fields.X[0]" in refused
    ids = {
        r["model_benchmark_id"] for r in archive["mistral-small-3.2-24b-instruct-2506"] if r["benchmark_id"] == "gpqa"
    }
    assert {d["model_benchmark_id"] for d in raw} == ids and {d["value"] for d in raw} == {0.4422, 0.4613}


def test_a_declared_select_picks_one_row(archive):
    entry = {"benchmarks": archive["gpt-oss-120b"]}  # codeforces: with tools 0.874, without 0.821
    problems: list[str] = []
    select = build_select(
        {"path": "$.analysis_method", "matches": "(?i)without tools", "why": "no tools"}, "t", problems
    )
    assert not problems
    evidence = Evidence(EvidenceKind.ID, "test")
    assert judge(_candidate("codeforces", evidence=evidence), entry)[2].startswith("ambiguous: 2 rows")
    raw, value, refused = judge(_candidate("codeforces", evidence=evidence, select=select), entry)
    assert (value, refused, raw["analysis_method"]) == (82.1, None, "Elo (without tools)")


UNSTATED = {"GPQA diamond": "gpqa", "MMMU": "mmmu", "Mathvista": "mathvista", "Wild Bench": "wild-bench"}
STATES = {"GPQA diamond": "diamond", "MMMU": "val", "Mathvista": "mini", "Wild Bench": "task macro"}


def test_no_field_is_filled_from_an_id_that_does_not_state_its_variant(every_llm_stats_model, archive):
    filled = refused = 0
    for model, rows in every_llm_stats_model.items():
        for row in rows:
            bench_id = re.search(r"benchmark_id == '([^']+)'", row["path"]).group(1)
            if UNSTATED.get(row["field"]) != bench_id:
                continue
            raw = row["raw"]
            if row["chosen"]:
                filled += 1
                assert STATES[row["field"]] in (raw["analysis_method"] or "").lower(), (model, row["field"], raw)
            else:
                refused += 1
                assert row["rejected"]
    assert filled >= 20 and refused >= 100  # measured: most gpqa/mmmu/mathvista rows state no variant


def test_llm_stats_values_are_read_once_on_0_100(every_llm_stats_model, archive):
    """Every LLM Stats value is its row's normalized_score x 100: never the score x 100 of a row
    already on another scale (none is above 100)."""
    checked = 0
    for model, rows in every_llm_stats_model.items():
        by_id = {(r["benchmark_id"], r["model_benchmark_id"]): r for r in archive[model]}
        for row in rows:
            if row["value"] is None:
                continue
            bench_id = re.search(r"benchmark_id == '([^']+)'", row["path"]).group(1)
            source_row = by_id[(bench_id, row["raw"]["model_benchmark_id"])]
            assert row["value"] == round(source_row["normalized_score"] * 100, 2)
            assert 0 <= row["value"] <= 100
            checked += 1
    assert checked > 500


def test_a_row_stored_as_a_percentage_is_not_multiplied_again(archive):
    """CONSTRUCTED row, in the real archive's shape: other snapshots store MBPP as `score: 74.4,
    normalized_score: 0.744` (the MBPP definition says max_score 100)."""
    real = next(r for r in archive["qwen-2.5-72b-instruct"] if r["benchmark_id"] == "mbpp")
    constructed = {**real, "score": 74.4, "normalized_score": 0.744, "verification_notes": "constructed for a test"}
    [cand] = [c for c in load_mappings().sections["dev_benchmarks"]["MBPP"] if c.source == "llm_stats"]
    raw, value, refused = judge(cand, {"benchmarks": [constructed]})
    assert (value, refused) == (74.4, None)


def test_bfcl_holds_one_version_in_the_example(every_llm_stats_model):
    """The example's BFCL values all come from the V4 board; LLM Stats' V2/V3 rows are refused."""
    sources = set()
    for path in GOLDEN.glob("*.json"):
        value = json.loads(path.read_text())["dev_benchmarks"]["BFCL"]
        if value is not None:
            sources.add(path.name)
    assert sources == {"Qwen3-32B_filled.json", "GLM-4.6_filled.json", "GLM-4.6 Reasoning_filled.json"}
    for rows in every_llm_stats_model.values():
        for row in rows:
            if row["field"] == "BFCL":
                assert not row["chosen"], row
                assert "this field holds V4 only" in row["rejected"] or "not the V4 this field holds" in row["rejected"]


def test_assumed_candidates_are_listed_with_why_they_are_safe():
    result = cli("mappings", "check", "--assumed")
    assert result.exit_code == 0, result.output
    lines = [line for line in result.output.splitlines() if ": assumed; safe because " in line]
    assert len(lines) == 4 and all("model_specs.yaml" in line for line in lines)
    assert "4 candidate(s) with an assumed variant" in result.output


def test_an_assumed_candidate_cannot_fill_a_field_that_names_a_variant(tmp_path):
    folder = tmp_path / "mappings"
    folder.mkdir()
    (folder / "sources.yaml").write_text(
        "sources:\n  s:\n    url: http://127.0.0.1/x\n    scope: catalog\n    records: '$[*]'\n"
    )
    (folder / "dev.yaml").write_text(
        "section: dev_benchmarks\nvariants:\n  MMMU: MMMU (val)\nfields:\n  MMMU:\n"
        "    - {source: s, path: '$.mmmu', variant: MMMU (val), evidence: {kind: assumed, states: surely val}}\n"
    )
    result = cli("mappings", "check", str(folder))
    assert result.exit_code == 2
    assert "fields.MMMU[0].evidence: assumed; this field means 'MMMU (val)'" in result.output
