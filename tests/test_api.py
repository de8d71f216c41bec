"""The Python API as the README shows it, and the folder mode."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest

from etl import LLMBenchmarkPipeline, ModelInfo, Pipeline, PipelineConfig, UsageError

ROOT = Path(__file__).resolve().parent.parent


def test_readme_python_example_runs(example_config, capsys, monkeypatch):
    block = re.search(r"## Python API\n\n```python\n(.*?)```", (ROOT / "README.md").read_text(), re.S).group(1)
    code = block.replace('"examples/config.yaml"', repr(str(example_config)))
    exec(compile(code, "README.md", "exec"), {})
    out = capsys.readouterr().out
    assert out.startswith("GLM-4.6 Reasoning written ")
    assert out.rstrip().endswith(" 8")  # 8 of the mapped fields have a value for it


def test_process_batch_returns_the_seed_shape(example_config):
    config = PipelineConfig.load(example_config, {"offline": True})
    rows = LLMBenchmarkPipeline(config).process_batch(
        [{"name": "GLM-4.6", "hf_id": "zai-org/GLM-4.6"}, "Acme Internal 7B"]
    )
    assert [set(r) for r in rows] == [{"model", "status", "output", "coverage", "error"}] * 2
    assert rows[0]["coverage"]["sources"]["ambiguous"] == ["artificial_analysis"]
    assert rows[1]["coverage"]["filled"] == 0


def test_config_dicts_are_validated():
    with pytest.raises(UsageError) as err:
        Pipeline({"timeout": "soon", "modelz": []})
    assert err.value.problems == [
        "<config dict>: (top level): unknown key 'modelz': did you mean 'models'? valid: artificial_analysis_key, "
        "cache_path, cache_ttl_hours, continue_on_error, huggingface_key, input_dir, log_level, max_retries, models, "
        "output_dir, overwrite, pins_file, rate_limit_aa, rate_limit_hf, retry_backoff_factor, sources, template_path, timeout",
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


def test_save_result_is_atomic_and_leaves_no_temp_file(tmp_path):
    pipeline = Pipeline(PipelineConfig(output_dir=tmp_path, cache_path=tmp_path / "s.sqlite"))
    target = pipeline.save_result(ModelInfo("A: b?"), {"x": 1})
    assert target.name == "A_ b__filled.json"
    assert [p.name for p in tmp_path.iterdir() if p.suffix == ".tmp"] == []
