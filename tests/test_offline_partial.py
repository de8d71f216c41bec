"""Offline is not all or nothing: a response the cache lacks leaves its cells `not cached`, every
other file is written, `etl cache missing` lists each missing response (JSON for scripts), and the
run exits with its own code (3, incomplete) so CI tells it from a failure (1)."""

from __future__ import annotations

import json
from pathlib import Path

import yaml
from helpers import cli

from etl import Pipeline, PipelineConfig
from etl.errors import ExitCode
from etl.results.outcomes import Failure, Missing, ModelResult, ModelStatus, exit_code

GOLDEN = Path(__file__).resolve().parent / "golden" / "example"
GRM_EVAL = "https://huggingface.co/OrionLLM/GRM-2.6-Opus/resolve/main/.eval_results/gpqa_diamond.yaml"
UNRECORDED = [
    "https://huggingface.co/api/models/acme/unrecorded-8b",
    "https://huggingface.co/acme/unrecorded-8b/resolve/main/config.json",
]


def _without_grm_pin(config: Path) -> None:
    """GRM-2.6-Opus's real model_info lists an eval file that was never recorded (the example pins
    hf_eval_results out for it): without the pin, that one per-model response is missing."""
    data = yaml.safe_load(config.read_text())
    for model in data["models"]:
        if isinstance(model, dict) and model["name"] == "GRM-2.6-Opus":
            model.pop("ids")
    config.write_text(yaml.safe_dump(data))


def test_one_missing_per_model_response_writes_every_other_file_and_exits_incomplete(example_config, workdir):
    _without_grm_pin(example_config)
    result = cli("run", "-c", str(example_config), "--offline")
    assert result.exit_code == ExitCode.INCOMPLETE == 3, result.output
    out = workdir / "out"
    assert len(list(out.glob("*_filled.json"))) == 10  # every file, GRM's included
    for golden in GOLDEN.glob("*.json"):  # the cells the missing file does not touch: exactly as always
        assert (out / golden.name).read_bytes() == golden.read_bytes(), golden.name
    assert f"      not cached (`etl cache missing` lists every one): {GRM_EVAL}" in result.output
    assert "incomplete: the cache lacks 1 response(s) (cells `not cached`): `etl cache missing` lists them" in (
        result.output
    )
    transform = cli("transform", "-c", str(example_config))
    assert transform.exit_code == 3 and "incomplete: the cache lacks 1 response(s)" in transform.output
    listed = cli("cache", "missing", "-c", str(example_config))
    assert listed.exit_code == 3
    assert listed.output.splitlines()[0] == f"hf_eval_results {GRM_EVAL}  (GRM-2.6-Opus)"
    as_json = json.loads(cli("cache", "missing", "-c", str(example_config), "-f", "json").output)
    assert as_json == [{"source": "hf_eval_results", "url": GRM_EVAL, "models": ["GRM-2.6-Opus"]}]
    coverage = json.loads(cli("coverage", "-c", str(example_config), "-f", "json").output)
    cell = coverage["models"]["GRM-2.6-Opus"]["cells"]["dev_benchmarks.GPQA diamond"]
    assert cell["status"] == "not cached" and cell["detail"] == "not cached: hf_eval_results"


def test_a_repo_never_recorded_lists_both_of_its_responses(example_config, workdir):
    data = yaml.safe_load(example_config.read_text())
    data["models"].append({"name": "Unrecorded 8B", "hf_id": "acme/unrecorded-8b"})
    example_config.write_text(yaml.safe_dump(data))
    result = cli("run", "-c", str(example_config), "--offline")
    assert result.exit_code == 3, result.output
    assert len(list((workdir / "out").glob("*_filled.json"))) == 11
    for url in UNRECORDED:
        assert f"      not cached (`etl cache missing` lists every one): {url}" in result.output
    listed = cli("cache", "missing", "-c", str(example_config)).output.splitlines()
    assert listed == [
        f"huggingface {UNRECORDED[0]}  (Unrecorded 8B)",
        f"huggingface_config {UNRECORDED[1]}  (Unrecorded 8B)",
        f"2 response(s) not in the cache {yaml.safe_load(example_config.read_text())['cache_path']}",
    ]
    rows = {
        r["source"]: r for r in Pipeline(PipelineConfig.load(example_config)).matches() if r["model"] == "Unrecorded 8B"
    }
    assert rows["hf_eval_results"]["reason"] == "not cached"  # its listing (the model info) is what is missing
    assert rows["hf_eval_results"]["note"] == f"not cached: {UNRECORDED[0]} (it lists this source's files)"
    todo = cli("todo", "-c", str(example_config)).output
    assert "    # tried: huggingface: not cached\n    model_specs.param_count: null" in todo


def test_nothing_missing_lists_nothing_and_exits_0(example_config):
    result = cli("cache", "missing", "-c", str(example_config), "-f", "json")
    assert result.exit_code == 0 and json.loads(result.output) == []


def test_an_empty_cache_writes_null_files_and_lists_every_response(workdir):
    (workdir / "config.yaml").write_text(
        "template_path: templates/template.json\ncache_path: empty.sqlite\nmodels: [{name: GLM-4.6, hf_id: zai-org/GLM-4.6}]\n"
    )
    result = cli("run", "-c", "config.yaml", "--offline")
    assert result.exit_code == 3, result.output
    assert "incomplete: the cache lacks 17 response(s)" in result.output
    listed = cli("cache", "missing", "-c", "config.yaml").output.splitlines()
    assert len(listed) == 18 and listed[-1] == f"17 response(s) not in the cache {workdir / 'empty.sqlite'}"
    assert (
        "aider https://raw.githubusercontent.com/Aider-AI/aider/main/aider/website/_data/polyglot_leaderboard.yml  (GLM-4.6)"
        in listed
    )


def test_failed_outranks_incomplete_and_incomplete_outranks_ok():
    written = [ModelResult("m", ModelStatus.WRITTEN)]
    gap = [Missing("huggingface", "https://huggingface.co/api/models/a/b", ("m",))]
    assert exit_code(written, []) == ExitCode.OK
    assert exit_code(written, [], missing=gap) == ExitCode.INCOMPLETE
    assert exit_code([ModelResult("m", ModelStatus.UNCHANGED, not_cached=[gap[0].url])], []) == ExitCode.INCOMPLETE
    assert exit_code(written, [Failure("openrouter", "HTTP 500")], missing=gap) == ExitCode.FAILED
