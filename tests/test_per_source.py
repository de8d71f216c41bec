"""Per-source keys and rates come from the mappings alone: a source with a key and a rate of its
own is one YAML file, and its flag, config key and environment variable follow with no Python
change (etl/declared/per_source.py)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from replay import ReplayServer

from etl import Pipeline, PipelineConfig
from etl.declared.mappings import load_mappings
from etl.declared.per_source import SettingKind, declared_settings
from etl.errors import UsageError
from etl.settings import mappings_dir

SENTINEL = "acme-sentinel-key-5f3e"
TEMPLATE = mappings_dir().parent / "examples" / "templates" / "template.json"
MODELS = ["acme-1", "acme-2", "acme-3"]


def _acme_mappings(tmp_path: Path, url: str) -> Path:
    """The shipped mappings plus one file: a keyed source with a rate setting of its own."""
    folder = tmp_path / "mappings"
    shutil.copytree(mappings_dir(), folder)
    (folder / "acme.yaml").write_text(
        "auths:\n"
        "  acme:\n"
        "    header: x-acme-key\n"
        "    env: ACME_API_KEY\n"
        "    flag: acme\n"
        "    label: Acme key\n"
        "    required: true\n"
        "sources:\n"
        "  acme:\n"
        f"    url: {url}/acme/{{name}}.json\n"
        "    scope: per_model\n"
        "    auth: acme\n"
        "    rate_limit: 1000\n"
        "    rate_limit_setting: rate_limit_acme\n"
        "section: dev_benchmarks\n"
        "fields:\n"
        "  MT-bench:\n"
        "    - {source: acme, path: '$.mt_bench', type: number, scale: 10,\n"
        "       variant: 'MT-bench score (1-10) on 0-100 (x10)', version: 80 questions,\n"
        "       evidence: {kind: source, states: the board's mt_bench column}}\n"
    )
    return folder


def _etl(*args: str, cwd: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """``etl ARGS`` in a fresh process: the flags are built when the command line is read."""
    environ = {k: v for k, v in os.environ.items() if not k.endswith(("_API_KEY", "_TOKEN"))}
    environ |= {"COLUMNS": "250", "NO_COLOR": "1", "TERM": "dumb", **(env or {})}
    return subprocess.run(
        [sys.executable, "-m", "etl", *args], cwd=cwd, env=environ, capture_output=True, text=True, timeout=300
    )


def test_a_source_with_a_key_and_a_rate_is_one_yaml_file(tmp_path):
    with ReplayServer() as server:
        server.dynamic.append(lambda path: (200, {}, b'{"mt_bench": 8.25}') if path.startswith("/acme/") else None)
        folder = _acme_mappings(tmp_path, server.url)
        shipped = _etl("run", "--help", cwd=tmp_path).stdout
        helped = _etl("run", "--mappings", str(folder), "--help", cwd=tmp_path).stdout
        off = {name: {"enabled": False} for name in load_mappings(folder).sources if name != "acme"}
        config = {"template_path": str(TEMPLATE), "models": MODELS, "sources": off, "output_dir": "out"}
        (tmp_path / "c.yaml").write_text(json.dumps(config))
        run = _etl(
            "run", "-c", "c.yaml", "--mappings", str(folder), "--cache-path", "s.sqlite", "--rate-limit-acme", "1",
            cwd=tmp_path, env={"ACME_API_KEY": SENTINEL},
        )  # fmt: skip
    assert "--acme-key" not in shipped and "--rate-limit-acme" not in shipped
    assert "--acme-key" in helped and "Acme key (better: ACME_API_KEY in the environment or .env)" in helped
    assert "--rate-limit-acme" in helped and "Requests per second to acme." in helped
    assert run.returncode == 0, run.stdout + run.stderr
    sent = [r for r in server.log if r["path"].startswith("/acme/")]
    assert sorted(r["path"] for r in sent) == [f"/acme/{m}.json" for m in MODELS]
    assert all(r["headers"].get("x-acme-key") == SENTINEL for r in sent)  # read from the environment
    # --rate-limit-acme 1 (the YAML says 1000): three requests take at least two windows of ~1 s
    assert sent[-1]["t"] - sent[0]["t"] >= 1.8
    filled = json.loads((tmp_path / "out" / "acme-1_filled.json").read_text())
    assert filled["dev_benchmarks"]["MT-bench"] == 82.5
    assert SENTINEL not in run.stdout + run.stderr


def test_the_config_keys_are_the_declared_ones(tmp_path):
    folder = _acme_mappings(tmp_path, "http://127.0.0.1:9")
    declared = declared_settings(folder)
    config = PipelineConfig.from_dict({"rate_limit_acme": 2, "acme_key": "k"}, "c.yaml", per_source=declared)
    assert config.source_rates == {"rate_limit_acme": 2} and config.source_keys == {"acme_key": "k"}
    with pytest.raises(UsageError) as err:
        PipelineConfig.from_dict({"rate_limit_acm": 2}, "c.yaml", per_source=declared)
    assert "unknown key 'rate_limit_acm': did you mean 'rate_limit_acme'? valid: " in str(err.value)
    pipeline = Pipeline({"rate_limit_acme": 2, "cache_path": str(tmp_path / "s.sqlite")}, load_mappings(folder))
    assert pipeline.resolved.rates["acme"] == 2
    pipeline.close()
    with pytest.raises(UsageError) as err:  # the shipped mappings know no such key
        PipelineConfig.from_dict({"rate_limit_acme": 2}, "c.yaml")
    assert "unknown key 'rate_limit_acme'" in str(err.value)


def test_the_shipped_keys_and_rates_keep_their_documented_names():
    settings = declared_settings()
    assert {s.name: s.flag for s in settings.values()} == {
        "artificial_analysis_key": "--aa-key",
        "rate_limit_aa": "--rate-limit-aa",
        "huggingface_key": "--hf-key",
        "rate_limit_hf": "--rate-limit-hf",
    }
    assert settings["huggingface_key"].envs == ("HUGGINGFACE_API_KEY", "HF_TOKEN")
    assert settings["huggingface_key"].kind is SettingKind.KEY
    assert set(settings["rate_limit_hf"].sources) == {"huggingface", "huggingface_config", "hf_eval_results"}


def test_each_auth_is_declared_once_in_the_yaml():
    text = "\n".join(p.read_text() for p in mappings_dir().glob("*.yaml"))
    assert text.count("header:") == len({s.auth["name"] for s in load_mappings().sources.values() if s.auth})


def test_an_unknown_auth_name_lists_the_declared_ones(tmp_path):
    folder = tmp_path / "mappings"
    shutil.copytree(mappings_dir(), folder)
    text = (folder / "sources.yaml").read_text().replace("    auth: huggingface\n", "    auth: hugingface\n", 1)
    (folder / "sources.yaml").write_text(text)
    with pytest.raises(UsageError) as err:
        load_mappings(folder)
    assert (
        f"{folder / 'sources.yaml'}: sources.huggingface.auth: unknown auth 'hugingface': did you mean "
        "'huggingface'? valid: artificial_analysis, huggingface"
    ) in err.value.problems
