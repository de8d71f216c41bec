"""Sources with their own formats: a board added by YAML alone, the LLM Stats archive as one request,
frozen sources kept past the TTL, and the general engine features they use (archive members,
YAML bodies, percent strings, one row per model, provenance of self-reported values)."""

from __future__ import annotations

import csv
import io
import json
import shutil
import tarfile
import time
from pathlib import Path

from replay import CASSETTES, ReplayServer
from vcr.persisters.filesystem import FilesystemPersister
from vcr.serializers import yamlserializer

from etl import ModelInfo, Pipeline, PipelineConfig
from etl.declared.mappings import load_mappings
from etl.settings import mappings_dir

CASSETTE_ARENA = "arena_hard.yaml"


def _body(cassette: str) -> bytes:
    """The recorded body, read here independently of the engine."""
    _, [response] = FilesystemPersister.load_cassette(str(CASSETTES / cassette), yamlserializer)
    body = response["body"]["string"]
    return body if isinstance(body, bytes) else body.encode()


def _only(server: ReplayServer, names: list[str], tmp_path: Path, **extra) -> PipelineConfig:
    config = PipelineConfig.from_dict(
        {"cache_path": str(tmp_path / "s.sqlite"), "sources": server.sources(only=names), **extra}
    )
    return config


def test_arena_hard_board_added_by_yaml_alone(tmp_path):
    folder = tmp_path / "mappings"
    shutil.copytree(mappings_dir(), folder)
    with ReplayServer([CASSETTE_ARENA]) as server:
        (folder / "zz_arena_mirror.yaml").write_text(
            "sources:\n"
            "  arena_mirror:\n"
            f"    url: {server.url}/lmarena/arena-hard-auto/main/leaderboard/arena_hard_leaderboard_20240731.csv\n"
            "    format: csv\n"
            "    scope: catalog\n"
            "    records: '$[*]'\n"
            "    identity: {ids: ['$.model'], names: ['$.model']}\n"
            "section: dev_benchmarks\n"
            "fields:\n"
            "  Arena-Hard:\n"
            "    - {source: arena_mirror, path: '$.score', type: number,\n"
            "       variant: 'Arena-Hard-Auto v0.1 (500 prompts, GPT-4-Turbo baseline and judge), win rate 0-100; not Arena-Hard v2',\n"
            "       version: v0.1, evidence: {kind: source, states: a mirror of the v0.1 board}}\n"
        )
        off = {name: {"enabled": False} for name in load_mappings(folder).sources if name != "arena_mirror"}
        config = PipelineConfig.from_dict({"cache_path": str(tmp_path / "s.sqlite"), "sources": off})
        config.mappings_dir = folder
        pipeline = Pipeline(config)
        models = [ModelInfo("claude-3-5-sonnet-20240620"), ModelInfo("gpt-4o-2024-05-13")]
        pipeline.extract(models)
        pipeline.transform(models)
    rows = list(csv.DictReader(io.StringIO(_body(CASSETTE_ARENA).decode())))
    published = {r["model"]: float(r["score"]) for r in rows}
    for model in models:
        [row] = pipeline.store.staged(model.name)
        assert (row["field"], row["source"], row["value"]) == ("Arena-Hard", "arena_mirror", published[model.name])


def test_llm_stats_costs_one_request_whatever_the_number_of_models(tmp_path):
    names = ["Qwen3-32B", "GPT-4.1", "Gemma 3 27B", "Llama 3.1 8B Instruct", "DeepSeek-V3", "Phi 4", "o3-mini"]
    with ReplayServer(["llm_stats.yaml"]) as server:
        config = _only(server, ["llm_stats"], tmp_path)
        pipeline = Pipeline(config)
        models = [ModelInfo(n) for n in names]
        pipeline.extract(models)
        assert server.count("/JonathanChavezTamales/") == 1
        pipeline.extract(models)  # cached: nothing is sent
        assert server.count("/JonathanChavezTamales/") == 1
        pipeline.transform(models)
    statuses = pipeline.store.matches_by_model(names)
    assert {n: [m["status"] for m in statuses[n]] for n in names} == {n: ["matched"] for n in names}


def test_a_frozen_source_is_not_fetched_again_when_its_ttl_has_passed(tmp_path):
    with ReplayServer(["llm_stats.yaml", CASSETTE_ARENA, "bfcl.yaml"]) as server:
        config = _only(server, ["llm_stats", "arena_hard", "bfcl"], tmp_path, cache_ttl_hours=0.0003)  # ~1 s
        pipeline = Pipeline(config)
        models = [ModelInfo("Qwen3-32B")]
        pipeline.extract(models)
        time.sleep(1.5)
        Pipeline(config).extract(models)
        # both declare frozen_since: neither is fetched again; the TTL still applies to the others
        assert server.count("/JonathanChavezTamales/") == 1
        assert server.count("/lmarena/") == 1
        assert server.count("/data_overall.csv") == 2  # bfcl is live: fetched again once stale


def test_archive_records_join_sibling_files_and_keep_self_reported_provenance(tmp_path):
    with ReplayServer(["llm_stats.yaml"]) as server:
        pipeline = Pipeline(_only(server, ["llm_stats"], tmp_path))
        models = [ModelInfo("Qwen3-32B", "Qwen/Qwen3-32B")]
        pipeline.extract(models)
        pipeline.transform(models)
    rows = {r["field"]: r for r in pipeline.store.staged("Qwen3-32B")}
    with tarfile.open(fileobj=io.BytesIO(_body("llm_stats.yaml"))) as archive:
        member = next(m for m in archive.getnames() if m.endswith("qwen/models/qwen3-32b/benchmarks.json"))
        bench = {b["benchmark_id"]: b for b in json.load(archive.extractfile(member))}
    arena = rows["Arena-Hard"]
    assert arena["value"] == round(bench["arena-hard"]["score"] * 100, 2)
    raw = json.loads(arena["raw"]) if isinstance(arena["raw"], str) else arena["raw"]
    assert raw == {
        "value": bench["arena-hard"]["normalized_score"],
        "is_self_reported": True,
        "self_reported_source_link": bench["arena-hard"]["self_reported_source_link"],
        "analysis_method": bench["arena-hard"]["analysis_method"],
        "model_benchmark_id": bench["arena-hard"]["model_benchmark_id"],
    }
    assert "AIME" in rows and "aime-2025" in bench  # AIME 2024 only: the 2025 row is another variant


def test_yaml_board_keeps_the_best_run_of_a_model(tmp_path):
    with ReplayServer(["aider.yaml"]) as server:
        pipeline = Pipeline(_only(server, ["aider"], tmp_path))
        models = [ModelInfo("Qwen2.5-Coder-32B-Instruct"), ModelInfo("gpt-5"), ModelInfo("gpt-5 (high)")]
        pipeline.extract(models)
        pipeline.transform(models)
    [row] = pipeline.store.staged("Qwen2.5-Coder-32B-Instruct")
    assert row["value"] == 16.4  # the whole-format run; the diff-format run scored 8.0
    matches = pipeline.store.matches_by_model(["gpt-5", "gpt-5 (high)"])
    assert matches["gpt-5"][0]["status"] == "ambiguous"  # high, medium, low: not guessed
    assert pipeline.store.staged("gpt-5 (high)")[0]["value"] == 88.0


def test_percent_strings_and_fc_rows_of_bfcl(tmp_path):
    with ReplayServer(["bfcl.yaml"]) as server:
        pipeline = Pipeline(_only(server, ["bfcl"], tmp_path))
        models = [ModelInfo("Qwen3-32B"), ModelInfo("GPT-4.1-2025-04-14")]
        pipeline.extract(models)
        pipeline.transform(models)
    rows = list(csv.DictReader(io.StringIO(_body("bfcl.yaml").decode())))
    fc = {r["Model"]: float(r["Overall Acc"].rstrip("%")) for r in rows}
    assert pipeline.store.staged("Qwen3-32B")[0]["value"] == fc["Qwen3-32B (FC)"]
    assert pipeline.store.staged("GPT-4.1-2025-04-14")[0]["value"] == fc["GPT-4.1-2025-04-14 (FC)"]


def test_open_vlm_overall_needs_all_eight_default_datasets(tmp_path):
    with ReplayServer(["open_vlm.yaml"]) as server:
        pipeline = Pipeline(_only(server, ["open_vlm"], tmp_path))
        models = [ModelInfo("Qwen2-VL-7B-Instruct"), ModelInfo("InternVL2-8B")]
        pipeline.extract(models)
        pipeline.transform(models)
    fields = {r["field"]: r["value"] for r in pipeline.store.staged("Qwen2-VL-7B-Instruct")}
    # (80.5+78.8)/2, 60.7, 53.7, 61.4, 843/10, 83.0, 50.4, 61.8: sum 534.95 / 8 = 66.87 -> 66.9 (as the page)
    assert fields["Open VLM"] == 66.9
    # InternVL2-8B lacks MMBench_TEST_CN_V11 and has HallusionBench "N/A": no average, its datasets still fill
    intern = {r["field"] for r in pipeline.store.staged("InternVL2-8B")}
    assert "Open VLM" not in intern and {"MMMU", "Mathvista", "AI2D"} <= intern


def _failing(server: ReplayServer, tmp_path: Path, source: str, path: str, body: bytes) -> str:
    server.route(path, 200, body, {"Content-Type": "application/octet-stream"})
    pipeline = Pipeline(_only(server, [source], tmp_path, max_retries=0))
    pipeline.extract([ModelInfo("x")])
    [failure] = pipeline.last_extract.failures
    return str(failure)


def test_unreadable_archive_and_yaml_bodies_say_what_is_wrong(tmp_path):
    archive_path = "/JonathanChavezTamales/llm-leaderboard/tar.gz/24a9ccf7402306f0c3e237213538e4537d64ecc2"
    yaml_path = "/Aider-AI/aider/main/aider/website/_data/polyglot_leaderboard.yml"
    empty = io.BytesIO()
    with tarfile.open(fileobj=empty, mode="w:gz") as archive:
        info = tarfile.TarInfo("repo/README.md")
        archive.addfile(info, io.BytesIO(b""))
    with ReplayServer() as server:
        url = server.url
        truncated = _failing(server, tmp_path / "a", "llm_stats", archive_path, _body("llm_stats.yaml")[:5000])
        no_member = _failing(server, tmp_path / "b", "llm_stats", archive_path, empty.getvalue())
        bad_yaml = _failing(server, tmp_path / "c", "aider", yaml_path, b"- model: [unclosed\n")
    assert truncated.startswith(f"llm_stats: unreadable tar.gz archive from {url}{archive_path} (")
    assert truncated.endswith("; truncated?)")
    assert no_member == (
        f"llm_stats: no member of the archive from {url}{archive_path} matches "
        "'*/data/organizations/*/models/*/model.json'"
    )
    assert bad_yaml.startswith(f"aider: unreadable YAML from {url}{yaml_path}: ")
