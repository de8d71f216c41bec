"""The Python API as the README shows it, and the folder mode."""

from __future__ import annotations

import json
import os
import re
import shutil
from pathlib import Path

import pytest
import yaml
from helpers import cli, config_dict, import_into
from replay import CASSETTES

import etl.load
import etl.results.writes
from etl import LLMBenchmarkPipeline, ModelInfo, Pipeline, PipelineConfig, UsageError
from etl.declared.mappings import load_mappings

ROOT = Path(__file__).resolve().parent.parent


def test_readme_python_example_runs(example_config, capsys, monkeypatch):
    block = re.search(r"## Python API\n\n```python\n(.*?)```", (ROOT / "README.md").read_text(), re.S).group(1)
    code = block.replace('"examples/config.yaml"', repr(str(example_config)))
    exec(compile(code, "README.md", "exec"), {})
    out = capsys.readouterr().out
    assert out.startswith("GLM-4.6 Reasoning written ")
    # 7 of the mapped fields have a value for it (its AA index, on a page of no stated version, is refused)
    assert out.rstrip().endswith(" 7 scoreable")


def test_readme_python_api_second_example_runs(example_config, capsys):
    blocks = re.findall(r"```python\n(.*?)```", (ROOT / "README.md").read_text().split("## Python API")[1], re.S)
    code = "\n".join(blocks[:2]).replace('"examples/config.yaml"', repr(str(example_config)))
    exec(compile(code, "README.md", "exec"), {})
    out = capsys.readouterr().out.splitlines()
    assert out[1] == "(7, 45) openrouter"  # its AA index: a page of no stated version
    assert "GLM-4.6 artificial_analysis ['glm-4-6', 'glm-4-6-reasoning']" in out
    assert "artificial_analysis 0.575 https://artificialanalysis.ai/api/v2/language/models/free?page=3 chosen" in out
    assert out[-1] == "[] []"


def test_process_batch_returns_the_seed_shape(example_config):
    config = PipelineConfig.load(example_config, {"offline": True})
    rows = LLMBenchmarkPipeline(config).process_batch(
        [{"name": "GLM-4.6", "hf_id": "zai-org/GLM-4.6"}, "Acme Internal 7B"]
    )
    assert [set(r) for r in rows] == [
        {"model", "status", "output", "coverage", "error", "verdict", "kept", "removed", "not_cached"}
    ] * 2
    assert rows[0]["coverage"]["sources"]["ambiguous"] == ["artificial_analysis"]
    assert rows[1]["coverage"]["filled"] == 0


def test_config_dicts_are_validated():
    with pytest.raises(UsageError) as err:
        Pipeline({"timeout": "soon", "modelz": []})
    assert err.value.problems == [
        "<config dict>: (top level): unknown key 'modelz': did you mean 'models'? valid: allow_removals, artificial_analysis_key, attribution_file, "
        "cache_path, cache_ttl_hours, consumer_schema, continue_on_error, huggingface_key, in_place, input_dir, log_level, "
        "max_retries, models, output_dir, output_name, overwrite, param_count_unit, pins_file, rate_limit_aa, rate_limit_hf, "
        "require_scoreable, retry_backoff_factor, sources, template_path, timeout, values_file, workers",
        "<config dict>: timeout: expected number, got str 'soon'",
    ]


def test_input_dir_mode_names_models_and_never_touches_inputs(workdir, warm_store):
    models = workdir / "Models"
    models.mkdir()
    template = json.loads((workdir / "templates" / "template.json").read_text())
    named = {
        **template,
        "model_specs": {**template["model_specs"], "model_name": "DeepSeek V3"},
        "hf_id": "deepseek-ai/DeepSeek-V3",
    }
    (models / "a.json").write_text(json.dumps(named))
    (models / "Claude 3.5 Haiku.json").write_text(json.dumps(template))
    before = {p.name: p.read_bytes() for p in models.iterdir()}
    store = workdir / "s.sqlite"
    shutil.copy(warm_store, store)
    config = PipelineConfig.from_dict(
        {"input_dir": str(models), "cache_path": str(store), "output_dir": str(workdir / "out")}
    )
    config.offline = True
    results = Pipeline(config).run()
    assert {r.model: r.status for r in results} == {"Claude 3.5 Haiku": "written", "DeepSeek V3": "written"}
    deepseek = json.loads((workdir / "out" / "DeepSeek V3_filled.json").read_text())
    assert deepseek["model_specs"]["model_name"] == "DeepSeek V3"
    assert deepseek["model_specs"]["architecture"] == "moe"  # n_routed_experts in its config.json
    assert deepseek["hf_id"] == "deepseek-ai/DeepSeek-V3"
    assert {p.name: p.read_bytes() for p in models.iterdir()} == before


def test_the_seed_system_public_api_is_kept(tmp_path):
    """The README's Python API documents these seed names; its users call them, so they stay."""
    assert LLMBenchmarkPipeline is Pipeline
    pipeline = LLMBenchmarkPipeline(
        PipelineConfig(
            template_path=ROOT / "examples" / "templates" / "template.json",
            output_dir=tmp_path,
            cache_path=tmp_path / "s.sqlite",
        )
    )
    template = pipeline.load_template()
    assert template["model_specs"]["input_price"] is None
    data, filled, fillable = pipeline.fill_model_data(template, ModelInfo("M"), {("model_specs", "input_price"): 0.5})
    assert data["model_specs"]["input_price"] == 0.5 and filled == 1 and fillable > 1
    assert template["model_specs"]["input_price"] is None  # the template itself is left as it was
    target = pipeline.save_result(ModelInfo("M"), data)
    assert json.loads(target.read_text())["model_specs"]["input_price"] == 0.5
    pipeline.close()


def test_save_result_is_atomic_and_leaves_no_temp_file(tmp_path):
    pipeline = Pipeline(PipelineConfig(output_dir=tmp_path, cache_path=tmp_path / "s.sqlite"))
    target = pipeline.save_result(ModelInfo("A: b?"), {"x": 1})
    assert target.name == "A_ b__filled.json"
    assert [p.name for p in tmp_path.iterdir() if p.suffix == ".tmp"] == []


@pytest.mark.parametrize("where", ["mid-write", "before-rename"])
def test_an_interrupted_save_leaves_the_old_file_whole(tmp_path, monkeypatch, where):
    pipeline = Pipeline(PipelineConfig(output_dir=tmp_path, cache_path=tmp_path / "s.sqlite"))
    target = pipeline.save_result(ModelInfo("M"), {"x": "old"})
    old = target.read_bytes()
    real_fdopen = os.fdopen

    class HalfWriter:  # writes half the text, then the user presses Ctrl-C
        def __init__(self, handle):
            self.handle = handle

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            self.handle.close()

        def write(self, text):
            self.handle.write(text[: len(text) // 2])
            self.handle.flush()
            raise KeyboardInterrupt

    if where == "mid-write":
        monkeypatch.setattr(etl.results.writes.os, "fdopen", lambda *a, **k: HalfWriter(real_fdopen(*a, **k)))
    else:
        monkeypatch.setattr(etl.results.writes.os, "replace", lambda *a: (_ for _ in ()).throw(KeyboardInterrupt()))
    with pytest.raises(KeyboardInterrupt):
        pipeline.save_result(ModelInfo("M"), {"x": "new " * 1000})
    assert target.read_bytes() == old
    assert sorted(p.name for p in tmp_path.iterdir() if p.suffix in (".json", ".tmp")) == ["M_filled.json"]


def test_process_batch_keeps_input_order_and_takes_any_iterable(example_config):
    config = PipelineConfig.load(example_config, {"offline": True})
    names = (n for n in ["Acme Internal 7B", "GLM-4.6 Reasoning", "Claude 3.5 Haiku"])  # a generator
    mixed = [next(names), ModelInfo("DeepSeek V3", hf_id="deepseek-ai/DeepSeek-V3"), *names]
    rows = Pipeline(config).process_batch(iter(mixed))
    assert [r["model"] for r in rows] == ["Acme Internal 7B", "DeepSeek V3", "GLM-4.6 Reasoning", "Claude 3.5 Haiku"]
    # its file is already there as this run would write it: not rewritten, and said so
    assert Pipeline(config).process_batch(m for m in ["Claude 3.5 Haiku"])[0]["status"] == "unchanged"


@pytest.mark.parametrize("how", ["load", "from_dict", "Pipeline(dict)"])
def test_hf_token_is_honoured_on_every_path(workdir, monkeypatch, server, how):
    monkeypatch.setenv("HF_TOKEN", "hf-token-sentinel")
    server.route("/api/models/org/m", 200, {"id": "org/m", "downloads": 10, "likes": 3, "createdAt": "2024-01-01"})
    data = config_dict(server, ["huggingface"], models=[{"name": "M", "hf_id": "org/m"}])
    if how == "load":
        (workdir / "c.yaml").write_text(yaml.safe_dump(data))
        pipeline = Pipeline(PipelineConfig.load(workdir / "c.yaml", dotenv=None))
    elif how == "from_dict":
        pipeline = Pipeline(PipelineConfig.from_dict(data, "test"))
    else:
        pipeline = Pipeline(data)
    pipeline.extract()
    assert [r["headers"].get("Authorization") for r in server.log] == ["Bearer hf-token-sentinel"]
    assert "hf-token-sentinel" in pipeline.resolved.secrets


def test_values_from_a_cassette_carry_the_recording_date(workdir):
    store = workdir / "s.sqlite"
    import_into([CASSETTES / "huggingface_redirect_307.yaml"], store)
    only_hf = {name: {"enabled": False} for name in load_mappings().sources if name != "huggingface"}
    config = PipelineConfig.from_dict({"cache_path": str(store), "sources": only_hf})
    pipeline = Pipeline(config)
    pipeline.transform([ModelInfo("BERT", hf_id="bert-base-uncased")])
    rows = pipeline.store.staged("BERT", "hf_score")
    assert [r["fetched_at"] for r in rows] == ["2025-01-22T18:24:45+00:00"]  # the recorded Date header


def test_the_api_returns_what_the_cli_shows(example_config):
    """Coverage, match, explain, todo, missing responses and the diff come from the Python API; the
    CLI only formats them (it never reads the store itself)."""
    pipeline = Pipeline(PipelineConfig.load(example_config, {"offline": True}))
    coverage = pipeline.coverage()
    assert coverage.totals("Qwen2.5 72B Instruct") == (22, 45)
    assert coverage.cells["GLM-4.6"]["model_specs.input_price"].status in ("filled", "conflict")
    assert [c["id"] for c in coverage.pins["GLM-4.6"]["artificial_analysis"]] == ["glm-4-6", "glm-4-6-reasoning"]
    assert coverage.verdicts["Acme Internal 7B"].scoreable is False
    rows = {(r["model"], r["source"]): r for r in pipeline.matches()}
    assert rows[("GLM-4.6", "artificial_analysis")]["status"] == "ambiguous"
    assert rows[("GLM-4.6 Reasoning", "artificial_analysis")]["entry_id"] == "glm-4-6-reasoning"
    chosen = [r for r in pipeline.explain("GLM-4.6 Reasoning", "input_price") if r["chosen"]]
    assert [(r["source"], r["entry_id"]) for r in chosen] == [("artificial_analysis", "glm-4-6-reasoning")]
    with pytest.raises(UsageError, match="Nope: no staged value"):
        pipeline.explain("Nope")
    todo = {(i.model, i.field): i for i in pipeline.todo()}
    assert set(todo) >= {("Acme Internal 7B", "model_specs.param_count")}
    assert pipeline.missing() == [] and pipeline.changes() == []
    cli_source = (Path(etl.load.__file__).parent / "cli" / "cli.py").read_text()
    assert ".store" not in cli_source.replace("from ..store.storefile import store_errors", "")  # errors only


def test_todo_proposes_the_pin_before_a_hand_entered_value(example_config):
    """With OpenRouter off, GLM-4.6's prices come from Artificial Analysis alone, where the plain
    name is ambiguous: the pin is what to do, not a value typed in by hand."""
    data = yaml.safe_load(example_config.read_text())
    data["sources"] = {"openrouter": {"enabled": False}}
    data["models"] = [{"name": "GLM-4.6", "hf_id": "zai-org/GLM-4.6"}]
    data.pop("values_file")
    example_config.write_text(yaml.safe_dump(data))
    items = {i.field: i for i in Pipeline(PipelineConfig.load(example_config, {"offline": True})).todo()}
    price = items["model_specs.input_price"]
    assert [c["id"] for c in price.pins["artificial_analysis"]] == ["glm-4-6", "glm-4-6-reasoning"]
    assert price.tried == ["artificial_analysis: ambiguous"]
    out = cli("todo", "-c", str(example_config)).output
    assert out.startswith(
        "# pin first: GLM-4.6 is ambiguous in artificial_analysis, which fills model_specs.input_price, "
        "model_specs.output_price: ids: {artificial_analysis: <id>}; candidates: glm-4-6 (GLM-4.6 (Non-reasoning)), "
        "glm-4-6-reasoning (GLM-4.6 (Reasoning))\n"
    )
    assert "model_specs.input_price: null" not in out and "model_specs.context_window: null" in out
