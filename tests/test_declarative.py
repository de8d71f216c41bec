"""The design claims: a source is added by YAML alone; variants are guarded; the docs table is
generated from mappings/ and current; conflicts are recorded and reported."""

from __future__ import annotations

import json
import shutil

from helpers import cli
from replay import ReplayServer

from etl import ModelInfo, Pipeline, PipelineConfig
from etl.declared.fields_doc import fields_table
from etl.declared.mappings import load_mappings
from etl.settings import mappings_dir


def test_a_new_source_is_one_yaml_file(tmp_path):
    folder = tmp_path / "mappings"
    shutil.copytree(mappings_dir(), folder)
    with ReplayServer() as server:
        server.route(
            "/mtbench.json",
            200,
            {
                "leaderboard": [
                    {"key": "acme-7b", "display": "Acme 7B", "mt_bench": "8.61"},
                    {"key": "other", "display": "Other", "mt_bench": "7.0"},
                ]
            },
        )
        (folder / "mtbench.yaml").write_text(
            "# one file: the source and the field it fills\n"
            "sources:\n"
            "  mtbench_mirror:\n"
            f"    url: {server.url}/mtbench.json\n"
            "    scope: catalog\n"
            "    records: '$.leaderboard[*]'\n"
            "    identity: {ids: ['$.key'], names: ['$.display']}\n"
            "section: dev_benchmarks\n"
            "fields:\n"
            "  MT-bench:\n"
            "    - {source: mtbench_mirror, path: '$.mt_bench', type: number, scale: 10,\n"
            "       variant: 'MT-bench score (1-10) on 0-100 (x10)', version: 80 questions,\n"
            "       evidence: {kind: source, states: the mirror's mt_bench column}}\n"
        )
        only = {name: {"enabled": False} for name in load_mappings(folder).sources if name != "mtbench_mirror"}
        config = PipelineConfig.from_dict(
            {
                "cache_path": str(tmp_path / "s.sqlite"),
                "output_dir": str(tmp_path / "out"),
                "template_path": str(mappings_dir().parent / "examples" / "templates" / "template.json"),
                "sources": only,
            }
        )
        config.mappings_dir = folder
        results = Pipeline(config).run([ModelInfo("Acme 7B")])
    assert results[0].status == "written"
    filled = json.loads((tmp_path / "out" / "Acme 7B_filled.json").read_text())
    assert filled["dev_benchmarks"]["MT-bench"] == 86.1
    table = cli("mappings", "table", str(folder)).output
    row = "| dev_benchmarks | MT-bench | 3 | mtbench_mirror | `$.mt_bench` | type number, scale 10 | MT-bench score (1-10) on 0-100 (x10) |"
    assert row in table


def test_a_candidate_of_another_variant_is_refused(tmp_path):
    folder = tmp_path / "mappings"
    shutil.copytree(mappings_dir(), folder)
    (folder / "zz_math500.yaml").write_text(
        "section: dev_benchmarks\nfields:\n"
        "  MATH:\n    - {source: artificial_analysis, path: '$.evaluations.math_500', scale: 100, variant: MATH-500}\n"
        "  AIME:\n    - {source: artificial_analysis, path: '$.evaluations.aime_25', scale: 100}\n"
    )
    result = cli("mappings", "check", str(folder))
    assert result.exit_code == 2
    assert result.output.splitlines() == [
        f"error: {folder}/zz_math500.yaml: fields.MATH[0].variant: 'MATH-500' is not the variant this field means "
        "('MATH (Hendrycks et al., full 5,000-problem test set; not MATH-500, not MATH Lvl 5)'); map it to a field of its own or drop it",
        f"error: {folder}/zz_math500.yaml: fields.AIME[0]: this field means 'AIME 2024'; add `variant:` saying which "
        "variant this candidate yields (the same text if it is that one)",
    ]


def test_fields_table_in_the_docs_is_current():
    assert (mappings_dir() / "FIELDS.md").read_text() == fields_table(load_mappings()), (
        "mappings/FIELDS.md is stale: run `etl mappings table > mappings/FIELDS.md`"
    )


def test_conflicts_are_reported_in_the_recap_and_by_explain(example_config):
    result = cli("run", "-c", str(example_config), "--offline")
    assert result.exit_code == 0, result.output
    # DeepSeek V3: Hugging Face safetensors 684,531,386,000 parameters, BigCodeBench 671 (billions)
    assert (
        "conflicts (first source kept; `etl explain` shows both): "
        "model_specs.input_price, model_specs.output_price, model_specs.param_count" in result.output
    )
    explained = cli("explain", "-c", str(example_config), "DeepSeek V3", "param_count").output
    assert "model_specs.param_count = 684531386000  [chosen, CONFLICT]" in explained
    assert "model_specs.param_count = 671000000000  [also, CONFLICT]" in explained
    assert "= 37 " not in explained  # EvalPlus's `size` is the active count for MoE models: not a candidate


def test_csv_with_bom_emoji_headers_and_na(tmp_path):
    with ReplayServer() as server:
        server.route(
            "/ugi.csv",
            200,
            "\ufeffauthor/model_name,UGI 🏆,W/10 👍\nacme/acme-7b,NA,5\nacme/acme-8b,41.5,NA\n".encode(),
            {"Content-Type": "text/csv"},
        )
        sources = {name: {"enabled": False} for name in load_mappings().sources if name != "ugi"}
        sources["ugi"] = {"url": server.url + "/ugi.csv"}
        config = PipelineConfig.from_dict({"cache_path": str(tmp_path / "s.sqlite"), "sources": sources})
        pipeline = Pipeline(config)
        pipeline.extract([ModelInfo("a", "acme/acme-7b"), ModelInfo("b", "acme/acme-8b")])
        pipeline.transform([ModelInfo("a", "acme/acme-7b"), ModelInfo("b", "acme/acme-8b")])
    assert pipeline.store.staged("a") == []  # NA: unknown, not 0
    [row] = pipeline.store.staged("b")
    assert (row["field"], row["value"], row["raw"]) == ("UGI Leaderboard", 41.5, "41.5")
