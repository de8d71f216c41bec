"""From a folder of model files to files LLMScoreEngine scores: the verdict on the README demo,
hand-entered values through `etl todo`, the param_count unit end to end, and in-place filling."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time

import pytest
import yaml
from conftest import EXAMPLES
from helpers import cli
from test_consumer import _lse_rejects


def _written(workdir) -> dict[str, dict]:
    return {p.name.removesuffix("_filled.json"): json.loads(p.read_text()) for p in (workdir / "out").glob("*.json")}


def test_the_demo_verdicts_agree_with_the_consumer_both_ways(example_config, workdir):
    result = cli("run", "-c", str(example_config), "--offline")
    assert result.exit_code == 0, result.output
    coverage = json.loads(cli("coverage", "-c", str(example_config), "--offline", "-f", "json").output)
    verdicts = {m: v["verdict"] for m, v in coverage["models"].items()}
    files = _written(workdir)
    assert set(files) == set(verdicts)
    for model, data in files.items():
        rejected = _lse_rejects(data)
        if verdicts[model]["status"] == "scoreable":
            assert rejected is None, (model, rejected)
        else:
            assert rejected is not None, model
            assert any(rejected.split()[-1] in reason for reason in verdicts[model]["reasons"]), (model, rejected)
    scoreable = sorted(m for m, v in verdicts.items() if v["status"] == "scoreable")
    assert scoreable == [
        "DeepSeek V3",
        "GLM-4.6",
        "GLM-4.6 Reasoning",
        "Llama 3.1 70B Instruct",
        "Qwen2.5 72B Instruct",
        "Qwen3-32B",
        "gpt-oss-120b",
    ]
    assert "7/10 scoreable" in result.output
    assert cli("run", "-c", str(example_config), "--offline", "--require-scoreable").exit_code == 1


@pytest.mark.parametrize(
    ("unit", "chosen", "other"), [("count", 684531386000, 671000000000), ("billions", 684.53, 671)]
)
def test_param_count_unit_end_to_end_and_the_conflict_in_both(example_config, workdir, unit, chosen, other):
    data = yaml.safe_load(example_config.read_text()) | {"param_count_unit": unit}
    example_config.write_text(yaml.safe_dump(data))
    result = cli("run", "-c", str(example_config), "--offline")
    assert result.exit_code == 0, result.output
    assert _written(workdir)["DeepSeek V3"]["model_specs"]["param_count"] == chosen
    explained = cli("explain", "-c", str(example_config), "DeepSeek V3", "param_count").output
    assert f"model_specs.param_count = {json.dumps(chosen)}  [chosen, CONFLICT]" in explained
    assert f"model_specs.param_count = {json.dumps(other)}  [also, CONFLICT]" in explained


def test_todo_lists_the_blockers_and_filling_them_makes_the_model_scoreable(example_config, workdir):
    todo = cli("todo", "-c", str(example_config), "--offline", "--write", "values.yaml")
    assert todo.exit_code == 0, todo.output
    skeleton = yaml.safe_load((workdir / "values.yaml").read_text())
    claude = skeleton["models"]["Claude 3.5 Haiku"]
    assert claude["model_specs.context_window"]["value"] == 200000  # the decision already there is kept
    assert {k for k, v in claude.items() if v is None} == {"model_specs.param_count", "model_specs.architecture"}
    # the models that are not scoreable, and every model the file already held (Llama's RULER values)
    blocked = {"Claude 3.5 Haiku", "GRM-2.6-Opus", "Acme Internal 7B"}
    assert set(skeleton["models"]) == blocked | {"gpt-oss-120b", "Llama 3.1 70B Instruct"}
    assert skeleton["models"]["Llama 3.1 70B Instruct"]["dev_benchmarks.RULER 32K"]["value"] == 94.8  # kept
    assert skeleton["models"]["gpt-oss-120b"]["model_specs.param_count"]["value"] == 117000000000  # kept
    assert "# tried: huggingface: unmatched" in (workdir / "values.yaml").read_text()
    claude["model_specs.param_count"] = {"value": 20000000000, "source": "test: an estimate to exercise the path"}
    claude["model_specs.architecture"] = {"value": "dense", "source": "test citation", "note": "assumed"}
    (workdir / "values.yaml").write_text(yaml.safe_dump(skeleton))
    result = cli("run", "-c", str(example_config), "--offline")
    assert result.exit_code == 0, result.output
    assert _lse_rejects(_written(workdir)["Claude 3.5 Haiku"]) is None
    explained = cli("explain", "-c", str(example_config), "Claude 3.5 Haiku", "architecture").output
    assert 'model_specs.architecture = "dense"  [chosen]' in explained
    assert "source:     manual" in explained and "url:        test citation" in explained
    coverage = json.loads(cli("coverage", "-c", str(example_config), "--offline", "-f", "json").output)
    assert coverage["models"]["Claude 3.5 Haiku"]["cells"]["model_specs.architecture"]["status"] == "manual"
    assert coverage["models"]["Claude 3.5 Haiku"]["verdict"]["status"] == "scoreable"


def test_a_bad_values_file_stops_the_run_before_any_request(workdir, server):
    (workdir / "values.yaml").write_text(
        "models:\n  Nobody: {model_specs.input_price: {value: 1, source: x}}\n"
        "  M:\n    model_specs.input_prise: {value: 1, source: x}\n"
        "    model_specs.context_window: {value: '128k', source: x}\n"
        "    model_specs.output_price: {value: 2}\n"
    )
    config = {
        "template_path": "templates/template.json",
        "values_file": "values.yaml",
        "models": ["M"],
        "sources": server.sources(),
    }
    (workdir / "c.yaml").write_text(yaml.safe_dump(config))
    result = cli("run", "-c", "c.yaml")
    assert result.exit_code == 2
    errors = [line for line in result.output.splitlines() if line.startswith("error: ")]
    assert len(errors) == 4 and all("values.yaml: models." in e for e in errors)
    assert "unknown model 'Nobody'" in errors[0]
    assert "did you mean 'model_specs.input_price'?" in errors[1]
    assert "expected integer, got str" in errors[2]
    assert "missing key: 'source'" in errors[3]
    assert server.log == []  # nothing was sent


def _models_folder(workdir):
    folder = workdir / "Models"
    folder.mkdir()
    template = json.loads((EXAMPLES / "templates" / "template.json").read_text())
    for name, hf_id in (("DeepSeek V3", "deepseek-ai/DeepSeek-V3"), ("Claude 3.5 Haiku", None)):
        data = {**template, "model_specs": {**template["model_specs"], "input_price": 9.99 if hf_id else None}}
        (folder / f"{name}.json").write_text(json.dumps(data | ({"hf_id": hf_id} if hf_id else {})))
    return folder


def test_in_place_fills_the_model_files_once_and_a_rerun_changes_nothing(workdir, warm_store):
    folder = _models_folder(workdir)
    originals = {p.name: p.read_bytes() for p in folder.iterdir()}
    shutil.copy(warm_store, workdir / "s.sqlite")
    args = ("run", "--input-dir", "Models", "--in-place", "--offline", "--cache-path", "s.sqlite")
    first = cli(*args)
    assert first.exit_code == 0, first.output
    filled = json.loads((folder / "DeepSeek V3.json").read_text())
    assert filled["model_specs"]["input_price"] == 9.99  # the user's value is kept
    assert filled["model_specs"]["architecture"] == "moe"
    assert {p.name: p.read_bytes() for p in folder.glob("*.bak")} == {f"{k}.bak": v for k, v in originals.items()}
    after = {p.name: p.read_bytes() for p in folder.iterdir()}
    second = cli(*args)
    assert second.exit_code == 0, second.output
    assert {p.name: p.read_bytes() for p in folder.iterdir()} == after  # byte-identical, .bak kept once


def test_an_output_that_would_overwrite_an_input_is_refused(workdir):
    _models_folder(workdir)
    config = {"input_dir": "Models", "output_dir": "Models", "output_name": "{name}.json"}
    (workdir / "c.yaml").write_text(yaml.safe_dump(config))
    result = cli("run", "-c", "c.yaml", "--offline")
    assert result.exit_code == 2
    assert result.output.splitlines()[0] == (
        f"error: {workdir}/Models/Claude 3.5 Haiku.json: would overwrite the input file of 'Claude 3.5 Haiku'; "
        "pass --in-place to fill the model files themselves, or choose another --output-dir or output_name"
    )
    result = cli("run", "-m", '["GLM-4.6"]', "-t", "templates/template.json", "--in-place", "--offline")
    assert result.exit_code == 2
    assert result.output.splitlines()[0] == (
        "error: --in-place: model 'GLM-4.6' has no file of its own (it comes from the config); "
        "use --input-dir with in-place, or drop --in-place"
    )


@pytest.mark.slow
def test_sigterm_during_an_in_place_run_leaves_each_file_old_or_new(workdir, warm_store):
    folder = workdir / "Models"
    folder.mkdir()
    template = json.loads((EXAMPLES / "templates" / "template.json").read_text())
    for i in range(400):
        (folder / f"Model {i}.json").write_text(json.dumps({**template, "hf_id": "deepseek-ai/DeepSeek-V3"}))
    old = {p.name: p.read_bytes() for p in folder.iterdir()}
    shutil.copy(warm_store, workdir / "s.sqlite")
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "etl",
            "run",
            "--input-dir",
            "Models",
            "--in-place",
            "--offline",
            "--cache-path",
            "s.sqlite",
        ],
        cwd=workdir,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)},
    )
    deadline = time.monotonic() + 60
    while not list(folder.glob("*.bak")) and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.005)
    proc.send_signal(signal.SIGTERM)
    proc.wait(timeout=30)
    changed = 0
    for path in folder.glob("*.json"):
        text = path.read_bytes()
        if text != old[path.name]:
            changed += 1
            assert json.loads(text)["model_specs"]["architecture"] == "moe"  # whole, parseable, filled
    assert 0 < changed  # the signal came mid-run: some files are new, the rest old
    assert not list(folder.glob("*.tmp")) and not list(folder.glob(".*.tmp"))


def test_a_thin_file_is_written_and_called_thin_in_the_recap_and_coverage(example_config, workdir):
    """Acme Internal 7B is in no source; with its specs in its own template it is scoreable on price
    and size alone (no dev benchmark, no community score): said in the recap and in coverage."""
    template = json.loads((workdir / "templates" / "template.json").read_text())
    template["model_specs"].update(
        input_price=0.1, output_price=0.2, context_window=8192, param_count=7_000_000_000, architecture="dense"
    )
    (workdir / "acme.json").write_text(json.dumps(template))
    data = yaml.safe_load(example_config.read_text())
    data["models"] = [{"name": "Acme Internal 7B", "template": str(workdir / "acme.json")}]
    data.pop("values_file")
    example_config.write_text(yaml.safe_dump(data))
    run = cli("run", "-c", str(example_config), "--offline")
    assert run.exit_code == 0, run.output
    assert "      scoreable, thin: no dev benchmark, no community score\n" in run.output
    assert "; 1/1 scoreable (1 thin)" in run.output
    assert (workdir / "out" / "Acme Internal 7B_filled.json").is_file()
    table = cli("coverage", "-c", str(example_config)).output
    assert table.splitlines()[0].endswith("[scoreable, thin: no dev benchmark, no community score]")
    as_json = json.loads(cli("coverage", "-c", str(example_config), "-f", "json").output)
    verdict = as_json["models"]["Acme Internal 7B"]["verdict"]
    assert verdict == {"status": "scoreable, thin", "reasons": [], "thin": ["no dev benchmark", "no community score"]}
