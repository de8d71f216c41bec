"""The README's bundled example, end to end, offline; matching outcomes on the recorded catalogs."""

from __future__ import annotations

import json
import shutil
import sqlite3
from datetime import UTC, datetime
from pathlib import Path

import jsonschema
import pytest
import typer
import yaml
from conftest import ALL_CASSETTES, EXAMPLES
from helpers import cli
from replay import ReplayServer

import etl.declared.transforms
from etl.cli.cli import app
from etl.settings import schemas_dir

EXPECTED_FILES = {
    "Llama 3.1 70B Instruct",
    "Claude 3.5 Haiku",
    "GLM-4.6",
    "GLM-4.6 Reasoning",
    "Qwen2.5 72B Instruct",
    "DeepSeek V3",
    "GRM-2.6-Opus",
    "Acme Internal 7B",
    "Qwen3-32B",
    "gpt-oss-120b",
}


def test_offline_example_writes_one_schema_valid_file_per_model(example_config, workdir):
    result = cli("run", "-c", str(example_config), "--offline")
    assert result.exit_code == 0, result.output
    out = workdir / "out"
    written = {p.name.removesuffix("_filled.json") for p in out.glob("*_filled.json")}
    assert written == EXPECTED_FILES
    schema = json.loads((schemas_dir() / "model.schema.json").read_text())
    for path in out.glob("*_filled.json"):
        jsonschema.validate(json.loads(path.read_text()), schema)
    assert (
        "10 written, 0 unchanged, 0 failed; 114/452 fields filled; 0 source failure(s); 7/10 scoreable" in result.output
    )


def test_example_values_come_from_the_recorded_payloads(example_config, workdir):
    assert cli("run", "-c", str(example_config), "--offline").exit_code == 0
    llama = json.loads((workdir / "out" / "Llama 3.1 70B Instruct_filled.json").read_text())
    # AA free page 1 (real): llama-3-1-instruct-70b has index 6.8 and prices 0.56/0.56
    assert llama["entity_benchmarks"]["artificial_analysis"] == 6.8
    assert llama["model_specs"]["input_price"] == 0.56
    # OpenRouter (real): context_length 131072; LMArena CSV (real): Meta-Llama-3.1-70B-Instruct 1264
    assert llama["model_specs"]["context_window"] == 131072
    assert llama["community_score"]["lm_sys_arena_score"] == 1264
    unknown = json.loads((workdir / "out" / "Acme Internal 7B_filled.json").read_text())
    assert all(v is None for section in unknown.values() for v in section.values())


def test_glm46_is_ambiguous_with_candidates_and_the_pin_resolves_it(example_config, workdir):
    result = cli("match", "-c", str(example_config), "--offline")
    assert result.exit_code == 0, result.output
    lines = [
        line for line in result.output.splitlines() if line.startswith("GLM-4.6 ") and "artificial_analysis" in line
    ]
    assert "ambiguous" in lines[0] and "glm-4-6, glm-4-6-reasoning" in lines[0]
    assert "candidate: glm-4-6 (GLM-4.6 (Non-reasoning))" in result.output
    assert "candidate: glm-4-6-reasoning (GLM-4.6 (Reasoning))" in result.output
    assert cli("run", "-c", str(example_config), "--offline").exit_code == 0
    plain = json.loads((workdir / "out" / "GLM-4.6_filled.json").read_text())
    pinned = json.loads((workdir / "out" / "GLM-4.6 Reasoning_filled.json").read_text())
    assert plain["entity_benchmarks"]["artificial_analysis"] is None  # never guessed
    # the pinned entry: glm-4-6-reasoning in a (constructed) page of the legacy route, which states no
    # index version: its 32.5 is refused (the field holds 4.1), its prices are taken
    assert pinned["entity_benchmarks"]["artificial_analysis"] is None
    assert pinned["model_specs"]["input_price"] is not None
    assert pinned["model_specs"]["input_price"] == 0.575


def test_explain_prints_the_full_provenance(example_config):
    assert cli("transform", "-c", str(example_config)).exit_code == 0
    result = cli("explain", "-c", str(example_config), "Llama 3.1 70B Instruct", "input_price")
    assert result.exit_code == 0, result.output
    out = result.output
    assert "model_specs.input_price = 0.56  [chosen, CONFLICT]" in out
    assert "source:     artificial_analysis (entry llama-3-1-instruct-70b)" in out
    assert "url:        https://artificialanalysis.ai/api/v2/language/models/free?page=1" in out
    assert "jsonpath:   $.pricing.price_1m_input_tokens" in out
    assert "raw:        0.56" in out
    assert "transform:  null_if [0]" in out
    assert "fetched_at: 20" in out
    # the losing candidate is shown too: OpenRouter's per-token string x 1e6
    assert 'raw:        "0.0000004"' in out and "model_specs.input_price = 0.4  [also, CONFLICT]" in out


def test_explain_unknown_model_is_a_usage_error(example_config):
    result = cli("explain", "-c", str(example_config), "Nope")
    assert result.exit_code == 2
    assert "error: Nope: no staged value; run `etl transform` (or `etl run`) for this model first" in result.output


def test_overwrite_policy_keeps_user_values_unless_asked(example_config, workdir):
    template = json.loads((workdir / "templates" / "template.json").read_text())
    template["model_specs"]["input_price"] = 9.99
    (workdir / "templates" / "template.json").write_text(json.dumps(template))
    assert cli("run", "-c", str(example_config), "--offline").exit_code == 0
    kept = json.loads((workdir / "out" / "DeepSeek V3_filled.json").read_text())
    assert kept["model_specs"]["input_price"] == 9.99
    assert cli("run", "-c", str(example_config), "--offline", "--overwrite").exit_code == 0
    replaced = json.loads((workdir / "out" / "DeepSeek V3_filled.json").read_text())
    assert replaced["model_specs"]["input_price"] == 0.4  # AA legacy-shaped page: DeepSeek V3 (Dec '24)
    assert json.loads((workdir / "templates" / "template.json").read_text())["model_specs"]["input_price"] == 9.99


def _commands(group, prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    out = []
    for name, command in group.commands.items():
        out.append((*prefix, name))
        if hasattr(command, "commands"):  # a group (typer's own click)
            out += _commands(command, (*prefix, name))
    return out


COMMANDS = _commands(typer.main.get_command(app))


def test_the_app_has_the_documented_commands():
    names = {" ".join(c) for c in COMMANDS}
    assert {"extract", "transform", "load", "run", "launch", "match", "coverage", "explain", "diff"} <= names
    assert {"mappings check", "mappings table", "cache import"} <= names


@pytest.mark.parametrize("command", COMMANDS, ids=" ".join)
def test_every_command_has_help(command):
    result = cli(*command, "--help")
    assert result.exit_code == 0
    assert "Usage" in result.output
    doc = typer.main.get_command(app)
    for name in command:
        doc = doc.commands[name]
    assert doc.help and doc.help.split("\n")[0].strip() in " ".join(result.output.split())


@pytest.mark.slow
def test_online_then_offline_write_byte_identical_files(workdir):
    """The same example, fetched from a local server replaying every cassette, then re-run from the
    cache alone: the files must not differ by a byte."""
    data = yaml.safe_load((EXAMPLES / "config.yaml").read_text())
    data["template_path"] = "templates/template.json"
    (workdir / "values.yaml").write_text((EXAMPLES / "values.yaml").read_text())
    with ReplayServer([p.name for p in ALL_CASSETTES]) as server:
        data |= {"cache_path": "s.sqlite", "output_dir": "online", "sources": server.sources()}
        (workdir / "c.yaml").write_text(yaml.safe_dump(data))
        online = cli("run", "-c", "c.yaml", "--aa-key", "aa-test-key-0123456789")
    assert online.exit_code == 0, online.output
    offline = cli("run", "-c", "c.yaml", "--offline", "-o", "offline")
    assert offline.exit_code == 0, offline.output
    first = {p.name: p.read_bytes() for p in (workdir / "online").iterdir()}
    assert len(first) == 11  # ten models and ATTRIBUTION.md
    assert first == {p.name: p.read_bytes() for p in (workdir / "offline").iterdir()}


GOLDEN = Path(__file__).resolve().parent / "golden" / "example"


class _Later(datetime):
    """A clock years ahead: a value that read the clock instead of the recording date would change."""

    @classmethod
    def now(cls, tz=None):
        return datetime(2031, 3, 1, tzinfo=UTC)


@pytest.mark.parametrize("clock", ["today", "2031"])
def test_the_readme_example_writes_the_golden_files_byte_for_byte(workdir, monkeypatch, clock):
    """`etl cache import cassettes/*.yaml` then `etl run -c examples/config.yaml --offline`: every
    cassette response carries its recording date, which is the fetch time, so hf_score and every
    other value are the same on any day (tests/golden/example/ was written once by this command)."""
    if clock == "2031":
        monkeypatch.setattr(etl.declared.transforms, "datetime", _Later)
    shutil.copy(EXAMPLES / "config.yaml", workdir / "config.yaml")
    shutil.copy(EXAMPLES / "values.yaml", workdir / "values.yaml")
    imported = cli("cache", "import", *[str(p) for p in ALL_CASSETTES])
    assert imported.exit_code == 0, imported.output
    result = cli("run", "-c", "config.yaml", "--offline")
    assert result.exit_code == 0, result.output
    written = {p.name: p.read_bytes() for p in (workdir / "filled_models").glob("*.json")}
    golden = {p.name: p.read_bytes() for p in GOLDEN.glob("*.json")}
    assert len(golden) == 10
    assert written == golden


def test_nearest_entries_are_computed_for_etl_match_only(example_config):
    """A run has no use for an unmatched model's nearest entries (a third of its matching time):
    it stores none; `etl match` computes and shows them."""
    assert cli("run", "-c", str(example_config), "--offline").exit_code == 0
    with sqlite3.connect(example_config.parent / "etl.sqlite") as db:
        stored = {n for (n,) in db.execute("SELECT nearest FROM matches WHERE status = 'unmatched'")}
    assert stored == {"[]"}
    result = cli("match", "-c", str(example_config), "--offline")
    acme = result.output.split("Acme Internal 7B", 1)[1]
    assert "nearest: mistral-7b-instruct (mistral-7b-instruct): missing tokens 'acme', 'internal'; extra tokens" in acme
