"""Hand-entered values (the values file) reach the written file, and the file, coverage and
`etl explain` say the same thing about each of them — above all for fields no active source fills,
which are exactly the fields the values file exists for."""

from __future__ import annotations

import json

import yaml
from conftest import EXAMPLES
from helpers import cli


def _manual_values() -> list[tuple[str, str, str, object]]:
    data = yaml.safe_load((EXAMPLES / "values.yaml").read_text())
    out = []
    for model, fields in data["models"].items():
        for dotted, entry in fields.items():
            section, field = dotted.split(".", 1)
            out.append((model, section, field, entry["value"]))
    return out


def test_the_example_has_a_manual_value_for_a_field_no_source_fills():
    from etl.declared.mappings import load_mappings

    sourced = {(s, f) for s, f, candidates in load_mappings().fields() if candidates}
    assert any((s, f) not in sourced for _, s, f, _ in _manual_values())


def test_every_manual_value_of_the_example_is_in_the_file_in_coverage_and_in_explain(example_config, workdir):
    run = cli("run", "-c", str(example_config), "--offline")
    assert run.exit_code == 0, run.output
    coverage = cli("coverage", "-c", str(example_config), "--offline", "-f", "json")
    assert coverage.exit_code == 0, coverage.output
    cells = json.loads(coverage.output)["models"]
    for model, section, field, value in _manual_values():
        written = json.loads((workdir / "out" / f"{model}_filled.json").read_text())
        assert written[section][field] == value, (model, section, field)
        cell = cells[model]["cells"][f"{section}.{field}"]
        assert (cell["status"], cell["value"], cell["source"]) == ("manual", value, "manual"), (model, field, cell)
        explain = cli("explain", "-c", str(example_config), "--offline", model, field)
        assert explain.exit_code == 0, explain.output
        assert f"{section}.{field} = {value}  [chosen]" in explain.output
        assert "source:     manual" in explain.output


def test_a_manual_value_for_a_field_whose_only_source_is_off_is_written(example_config, workdir):
    """Any field whose sources are all switched off is in the same case as a no-source field."""
    values = workdir / "values.yaml"
    data = yaml.safe_load(values.read_text())
    data["models"]["Acme Internal 7B"] = {"community_score.lm_sys_arena_score": {"value": 1234, "source": "a test"}}
    values.write_text(yaml.safe_dump(data))
    config = yaml.safe_load(example_config.read_text())
    config["sources"] = {"lmarena": {"enabled": False}}
    example_config.write_text(yaml.safe_dump(config))
    run = cli("run", "-c", str(example_config), "--offline")
    assert run.exit_code == 0, run.output
    written = json.loads((workdir / "out" / "Acme Internal 7B_filled.json").read_text())
    assert written["community_score"]["lm_sys_arena_score"] == 1234


def test_a_manual_only_value_deleted_from_the_values_file_is_removed_not_kept(example_config, workdir):
    assert cli("run", "-c", str(example_config), "--offline").exit_code == 0
    values = workdir / "values.yaml"
    data = yaml.safe_load(values.read_text())
    del data["models"]["Llama 3.1 70B Instruct"]
    values.write_text(yaml.safe_dump(data))
    run = cli("run", "-c", str(example_config), "--offline")
    assert run.exit_code == 0, run.output
    written = json.loads((workdir / "out" / "Llama 3.1 70B Instruct_filled.json").read_text())
    assert written["dev_benchmarks"]["RULER 32K"] is None


def _hand_enter(example_config, workdir, entries: dict) -> None:
    values = workdir / "values.yaml"
    data = yaml.safe_load(values.read_text())
    data["models"]["Qwen3-32B"] = entries
    values.write_text(yaml.safe_dump(data))


def test_a_hand_entered_value_of_another_version_is_refused_like_a_sources(example_config, workdir):
    """Qwen3's blog gives BFCL v3 (70.3); the field holds V4 (the board's 48.71): typed in, the V3
    score would beat the V4 one and be ranked against other models' V4 scores."""
    _hand_enter(
        example_config,
        workdir,
        {
            "dev_benchmarks.BFCL": {"value": 70.3, "source": "https://qwenlm.github.io/blog/qwen3/", "version": "v3"},
            "entity_benchmarks.artificial_analysis": {"value": 15.6, "source": "AA's legacy index"},
        },
    )
    run = cli("run", "-c", str(example_config), "--offline")
    assert run.exit_code == 0, run.output
    written = json.loads((workdir / "out" / "Qwen3-32B_filled.json").read_text())
    assert written["dev_benchmarks"]["BFCL"] == 48.71  # the V4 board, not the hand-entered V3
    assert written["entity_benchmarks"]["artificial_analysis"] != 15.6
    explain = cli("explain", "-c", str(example_config), "--offline", "Qwen3-32B", "BFCL").output
    assert (
        "dev_benchmarks.BFCL = 70.3  [REJECTED: version v3, not the V4 this field holds (dev_benchmarks.yaml versions.BFCL): another benchmark]"
        in explain
    )
    explain = cli("explain", "-c", str(example_config), "--offline", "Qwen3-32B", "artificial_analysis").output
    assert "[REJECTED: no version stated; this field holds 4.1 only" in explain
    assert "add `version: 4.1` to the entry if the cited source measured that version" in explain


def test_a_hand_entered_value_that_states_the_fields_version_fills_it(example_config, workdir):
    _hand_enter(
        example_config,
        workdir,
        {"dev_benchmarks.BFCL": {"value": 50.0, "source": "a V4 run, cited", "version": "V4"}},
    )
    run = cli("run", "-c", str(example_config), "--offline")
    assert run.exit_code == 0, run.output
    written = json.loads((workdir / "out" / "Qwen3-32B_filled.json").read_text())
    assert written["dev_benchmarks"]["BFCL"] == 50.0
