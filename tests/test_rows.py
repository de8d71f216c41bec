"""One field, one benchmark (issue 17): a value fills a field only where the source states its
variant and version, several rows of one benchmark are ambiguous unless a rule picks one, and an
LLM Stats row on 0-100 is not multiplied again. From the real LLM Stats archive (cassettes/llm_stats.yaml,
shared/data/boards/llm_stats_llm-leaderboard.24a9ccf7.2025-10-16.tar.gz)."""

from __future__ import annotations

import csv
import io
import json
import re
import shutil
import tarfile
from pathlib import Path

import pytest
import yaml
from conftest import EXAMPLES
from helpers import cli
from replay import CASSETTES, ReplayServer
from test_names import top_names
from vcr.persisters.filesystem import FilesystemPersister
from vcr.serializers import yamlserializer

from etl import ModelInfo, Pipeline, PipelineConfig
from etl.declared.mappings import Candidate, load_mappings
from etl.declared.paths import compile_path
from etl.declared.rows import Evidence, EvidenceKind, build_select
from etl.declared.transforms import judge
from etl.settings import mappings_dir


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
    both = build_select({"path": "$.analysis_method", "matches": "(?i)tools", "why": "any"}, "t", problems)
    refused = judge(_candidate("codeforces", evidence=evidence, select=both), entry)[2]
    assert refused.startswith("ambiguous: 2 rows") and "its `select:` (any) does not leave one" in refused


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


def _transformed(store: Path, names: list, **config) -> dict[str, list[dict]]:
    pipeline = Pipeline(PipelineConfig.from_dict({"cache_path": str(store), **config}))
    pipeline.config.offline = True
    models = [m if isinstance(m, ModelInfo) else ModelInfo(m) for m in names]
    pipeline.transform(models)
    return {m.name: pipeline.store.staged(m.name) for m in models}


def test_bfcl_holds_one_version_across_the_example_and_the_sixty_names(warm_store, tmp_path):
    """Every BFCL value of both runs comes from the V4 board; every LLM Stats row (V2, V3 or no
    version stated) is refused with its reason, never a fallback."""
    store = tmp_path / "s.sqlite"
    store.write_bytes(warm_store.read_bytes())
    example = yaml.safe_load((EXAMPLES / "config.yaml").read_text())
    off = {name: {"enabled": False} for name in ("huggingface", "huggingface_config", "hf_eval_results")}
    runs = {
        "example": _transformed(
            store, [ModelInfo(m["name"], m.get("hf_id"), ids=m.get("ids", {})) for m in example["models"]]
        ),
        "sixty names": _transformed(store, top_names(), sources=off),
    }
    for run, staged in runs.items():
        chosen = [r for rows in staged.values() for r in rows if r["field"] == "BFCL" and r["chosen"]]
        refused = [r for rows in staged.values() for r in rows if r["field"] == "BFCL" and r["rejected"]]
        assert chosen and {r["source"] for r in chosen} == {"bfcl"}, run
        assert refused and {r["source"] for r in refused} == {"llm_stats"}, run
        assert all("V4" in r["rejected"] for r in refused), run


def test_assumed_candidates_are_listed_with_why_they_are_safe():
    result = cli("mappings", "check", "--assumed")
    assert result.exit_code == 0, result.output
    listed = [line for line in result.output.splitlines() if line.startswith("/")]
    whole = [line for line in listed if ": assumed; safe because " in line]
    detail = [line for line in listed if " states the benchmark; assumed: " in line]
    assert len(whole) == 4 and all("model_specs.yaml" in line for line in whole)  # no variant field
    assert detail and all("dev_benchmarks.yaml" in line for line in detail)  # a split or metric, with why
    assert len(whole) + len(detail) == len(listed)  # none without a declaration
    assert f"{len(listed)} candidate(s) assume their variant or a detail of it" in result.output


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


def _coverage_rows(config: Path, *extra: str) -> dict[tuple[str, str], dict]:
    result = cli("coverage", "-c", str(config), "--offline", "-f", "csv", *extra)
    assert result.exit_code == 0, result.output
    return {(r["model"], r["field"]): r for r in csv.DictReader(io.StringIO(result.output))}


def test_an_index_page_of_no_stated_version_is_refused_in_coverage_and_explain(example_config):
    """The example's AA pages 2-3 are constructed from the legacy route: no intelligence_index_version."""
    cell = _coverage_rows(example_config)[("Qwen2.5 72B Instruct", "artificial_analysis")]
    assert cell["status"] == "rejected" and cell["value"] == ""
    assert "the page states no intelligence_index_version; this field holds 4.1 only" in cell["detail"]
    explained = cli("explain", "-c", str(example_config), "--offline", "Qwen2.5 72B Instruct", "artificial_analysis")
    assert "= 15.6  [REJECTED: the page states no intelligence_index_version" in explained.output
    real = cli("explain", "-c", str(example_config), "--offline", "DeepSeek V3", "artificial_analysis")
    assert "= 10.4  [chosen]" in real.output and '"intelligence_index_version": 4.1' in real.output


def test_ambiguous_rows_show_in_coverage_with_each_value(example_config, tmp_path):
    """Without its row rule, LLM Stats' gpqa gives Mistral Small 3.2 two values: coverage says
    ambiguous and lists both with their rows; nothing is filled."""
    folder = tmp_path / "mappings"
    shutil.copytree(mappings_dir(), folder)
    dev = folder / "dev_benchmarks.yaml"
    text = dev.read_text()
    rule = re.search(r"evidence: \{kind: \"row\", states: \"LLM Stats' gpqa[^}]*\}", text).group(0)
    dev.write_text(text.replace(rule, 'evidence: {kind: "definition", states: "a test without the row rule"}'))
    config = yaml.safe_load(example_config.read_text())
    config["models"] = [{"name": "Mistral Small 3.2", "ids": {"llm_stats": "mistral-small-3.2-24b-instruct-2506"}}]
    config.pop("values_file", None)
    config["sources"] = {n: {"enabled": False} for n in ("huggingface", "huggingface_config", "hf_eval_results")}
    example_config.write_text(yaml.safe_dump(config))
    cell = _coverage_rows(example_config, "--mappings", str(folder))[("Mistral Small 3.2", "GPQA diamond")]
    assert cell["status"] == "ambiguous" and cell["value"] == ""
    assert "2 rows give different values: 44.22 (" in cell["detail"] and "46.13 (" in cell["detail"]
    assert "declare `select:` at " in cell["detail"]
