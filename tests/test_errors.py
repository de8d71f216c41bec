"""Bad input: one line per problem naming the file, the place and the fix; exit 2; no traceback."""

from __future__ import annotations

import shutil

import pytest
import yaml
from helpers import cli, errors

from etl.settings import mappings_dir

#: the sources of sources.yaml alone (a mappings folder holding only that file)
SOURCES_YAML_ONLY = "valid: artificial_analysis, artificial_analysis_pro, bigcodebench, evalplus, huggingface, huggingface_config, livebench, lmarena, open_llm, open_vlm, openrouter, ugi"
VALID_SOURCES = "valid: aider, arena_hard, artificial_analysis, artificial_analysis_pro, bfcl, bigcodebench, evalplus, hf_eval_results, huggingface, huggingface_config, livebench, llm_stats, lmarena, mt_bench, open_llm, open_vlm, openrouter, swe_bench, ugi, wildbench"


def test_config_unknown_key_names_the_nearest_and_every_problem_is_reported(workdir):
    (workdir / "c.yaml").write_text("template_path: templates/template.json\nmodles: []\nrate_limit_aa: fast\n")
    result = cli("run", "-c", "c.yaml")
    assert result.exit_code == 2
    assert errors(result) == [
        "error: c.yaml: (top level): unknown key 'modles': did you mean 'models'? valid: allow_removals, artificial_analysis_key, attribution_file, "
        "cache_path, cache_ttl_hours, consumer_schema, continue_on_error, huggingface_key, in_place, input_dir, log_level, "
        "max_retries, models, output_dir, output_name, overwrite, param_count_unit, pins_file, rate_limit_aa, rate_limit_hf, "
        "require_scoreable, retry_backoff_factor, sources, template_path, timeout, values_file, workers",
        "error: c.yaml: rate_limit_aa: expected number, got str 'fast'",
    ]


def test_config_unknown_source_override(workdir):
    (workdir / "c.yaml").write_text(
        "template_path: templates/template.json\nmodels: [a]\nsources: {openroutr: {url: x}}\n"
    )
    result = cli("run", "-c", "c.yaml", "--offline")
    assert result.exit_code == 2
    assert errors(result) == [
        f"error: c.yaml: sources.openroutr: unknown source: did you mean 'openrouter'? {VALID_SOURCES}"
    ]


@pytest.mark.parametrize("name", ["../etc/passwd", "a/b", "x\\\\y", ".."])
def test_model_name_with_path_parts_is_refused(workdir, name):
    (workdir / "c.yaml").write_text(f'template_path: templates/template.json\nmodels: [{{name: "{name}"}}]\n')
    result = cli("run", "-c", "c.yaml")
    assert result.exit_code == 2
    shown = name.replace("\\\\", "\\")
    assert errors(result) == [
        f"error: c.yaml: models[0].name: model name {shown!r} contains a path separator or '..'; "
        "the name becomes the output file name: remove them (put a repo id in hf_id)"
    ]
    assert not (workdir / "filled_models").exists()


def test_bad_hf_id(workdir):
    result = cli("run", "-m", '[{"name": "x", "hf_id": "not a repo"}]', "-t", "templates/template.json")
    assert result.exit_code == 2
    assert errors(result) == [
        "error: --models: models[0].hf_id: 'not a repo' is not valid: expected a Hugging Face repo id, owner/name "
        "(no spaces, no '..'): the join key for Hugging Face and OpenRouter."
    ]


def test_broken_template_json_fails_before_any_request(workdir):
    (workdir / "broken.json").write_text('{"dev_benchmarks": {}, ')
    result = cli("run", "-t", "broken.json", "-m", '["x"]')
    assert result.exit_code == 2
    assert errors(result) == [
        "error: broken.json: line 1, column 24: invalid JSON (Expecting property name enclosed in double quotes); fix the syntax"
    ]


def test_template_section_that_is_not_an_object(workdir):
    (workdir / "t.json").write_text('{"dev_benchmarks": [1, 2], "model_specs": "x"}')
    result = cli("run", "-t", "t.json", "-m", '["x"]', "--offline")
    assert result.exit_code == 2
    assert errors(result) == [
        'error: t.json: dev_benchmarks: expected an object of fields, got list; write {"field": null, ...}',
        'error: t.json: model_specs: expected an object of fields, got str; write {"field": null, ...}',
    ]


def test_wrong_value_types_in_a_template_make_that_model_invalid_not_the_batch(example_config, workdir):
    (workdir / "templates" / "template.json").write_text('{"dev_benchmarks": {"MMLU": "high"}, "model_specs": {}}')
    result = cli("run", "-c", str(example_config), "--offline")
    assert result.exit_code == 1
    assert "error: GLM-4.6 (from " in result.output
    assert "dev_benchmarks.MMLU: expected ['number', 'null'], got str 'high'" in result.output
    assert "0 written, 0 unchanged, 10 failed;" in result.output


def test_non_utf8_config(workdir):
    (workdir / "c.yaml").write_bytes(b"models: [\xff]\n")
    result = cli("run", "-c", "c.yaml")
    assert result.exit_code == 2
    assert errors(result) == ["error: c.yaml: byte 9: not UTF-8 text; save the file as UTF-8"]


def test_yaml_syntax_in_config(workdir):
    (workdir / "c.yaml").write_text("models: [\n")
    result = cli("run", "-c", "c.yaml")
    assert result.exit_code == 2
    assert errors(result) == [
        "error: c.yaml: line 2, column 1: invalid YAML (expected the node content, but found '<stream end>'); fix the syntax"
    ]


def test_missing_config_and_missing_or_empty_folder(workdir):
    assert errors(cli("run", "-c", "nope.yaml")) == ["error: nope.yaml: file not found; check the path"]
    assert errors(cli("run", "--input-dir", "nowhere")) == [
        "error: nowhere: input folder not found; pass an existing folder with --input-dir"
    ]
    (workdir / "empty").mkdir()
    result = cli("run", "--input-dir", "empty")
    assert result.exit_code == 2
    assert errors(result) == ["error: empty: no *.json model files in the input folder; add templates or fix the path"]


def test_no_models_at_all(workdir):
    result = cli("run", "-t", "templates/template.json")
    assert result.exit_code == 2
    assert errors(result) == [
        "error: no models: list them under 'models:' in the config, pass --models, or point --input-dir at a folder of model files"
    ]


@pytest.fixture
def bad_mappings(tmp_path):
    folder = tmp_path / "m"
    folder.mkdir()
    shutil.copy(mappings_dir() / "sources.yaml", folder / "sources.yaml")
    return folder


def test_every_class_of_invalid_mapping_is_reported_at_once(bad_mappings):
    (bad_mappings / "model_specs.yaml").write_text(
        "section: model_specs\nfields:\n  input_price:\n"
        '    - {source: openroutr, path: "$.pricing.prompt"}\n'
        '    - {source: openrouter, path: "$.pricing[", scael: 100}\n'
        "    - {source: openrouter, compute: magic}\n"
        '    - {path: "$.x"}\n'
        "    - {source: openrouter}\n"
    )
    (bad_mappings / "community_score.yaml").write_text("section: community_score\nfields:\n  hf_score: [\n")
    result = cli("mappings", "check", str(bad_mappings))
    assert result.exit_code == 2
    m = str(bad_mappings)
    assert errors(result) == [
        f"error: {m}/community_score.yaml: line 4, column 1: invalid YAML (expected the node content, but found '<stream end>'); fix the syntax",
        f"error: {m}/model_specs.yaml: fields.input_price[1]: unknown key 'scael': did you mean 'scale'? valid: compute, divide, evidence, map, note, null_if, path, percent_if_fraction, provenance, round, scale, select, source, type, variant, version",
        f"error: {m}/model_specs.yaml: fields.input_price[2].compute: 'magic' is not allowed: valid: architecture, architecture_from_name, context_window, hf_score, livebench_overall, open_vlm_overall, param_count",
        f"error: {m}/model_specs.yaml: fields.input_price[3]: missing key: 'source'",
        f"error: {m}/model_specs.yaml: fields.input_price[4]: needs one of: path, compute",
        f"error: {m}/model_specs.yaml: fields.input_price[0].source: unknown source 'openroutr': did you mean 'openrouter'? {SOURCES_YAML_ONLY}",
        f"error: {m}/model_specs.yaml: fields.input_price[1].path: JSONPath '$.pricing[' does not parse (Parse error near the end of string!); fix the path",
    ]


def test_invalid_sources_file(bad_mappings):
    (bad_mappings / "sources.yaml").write_text(
        "sources:\n  x:\n    url: http://127.0.0.1/x\n    scope: catalogue\n    recrods: '$.data[*]'\n"
    )
    result = cli("mappings", "check", str(bad_mappings))
    assert result.exit_code == 2
    m = str(bad_mappings)
    assert errors(result) == [
        f"error: {m}/sources.yaml: sources.x: unknown key 'recrods': did you mean 'records'? valid: archive, attribution, auth, best_row, companions, context, deadline, derivative, description, enabled, format, frozen_since, hints, identity, key_field, listed_by, max_body, not_found, pagination, params, rate_limit, rate_limit_setting, records, scope, shrink_limit, url, where",
        f"error: {m}/sources.yaml: sources.x.scope: 'catalogue' is not allowed: did you mean 'catalog'? valid: catalog, per_model",
    ]


def test_run_with_a_broken_mapping_folder_exits_2(bad_mappings, workdir):
    (bad_mappings / "x.yaml").write_bytes(b"section: x\nfields: {\xff: []}\n")
    result = cli("run", "--mappings", str(bad_mappings), "-m", '["x"]', "-t", "templates/template.json")
    assert result.exit_code == 2
    assert errors(result) == [f"error: {bad_mappings}/x.yaml: byte 20: not UTF-8 text; save the file as UTF-8"]


def test_shipped_mappings_list_every_contract_field():
    result = cli("mappings", "check")
    assert result.exit_code == 0
    assert result.output.startswith("ok: 20 sources, 56 fields")


def test_nan_in_a_template_is_not_json(workdir):
    (workdir / "t.json").write_text('{"dev_benchmarks": {"MMLU": NaN}}')
    result = cli("run", "-t", "t.json", "-m", '["x"]')
    assert result.exit_code == 2
    assert errors(result) == [
        "error: t.json: line 1, column 29: invalid JSON (NaN is not JSON (use null for unknown)); fix the syntax"
    ]


def test_echoed_values_are_cut_to_200_characters(workdir):
    (workdir / "c.yaml").write_text(
        yaml.safe_dump({"models": ["a"], "log_level": "x" * 100_000, "timeout": "y" * 100_000, "z" * 5000: 1})
    )
    result = cli("run", "-c", "c.yaml", "--offline")
    assert result.exit_code == 2
    lines = errors(result)
    assert len(lines) == 3
    assert all(len(line) < 1200 for line in lines)
    assert lines[1] == (
        "error: c.yaml: log_level: '"
        + "x" * 196
        + "... (100002 chars) is not allowed: valid: DEBUG, ERROR, INFO, WARNING"
    )
    assert lines[2] == "error: c.yaml: timeout: expected number, got str '" + "y" * 196 + "... (100002 chars)"
