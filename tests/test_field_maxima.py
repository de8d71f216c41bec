"""Sane maxima per field, declared once in the output contract (schemas/model.schema.json) and
applied to every candidate (rejected at transform, with the reason in the staged row that
`etl explain` and coverage show) and to every hand-entered value (refused with its line)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from helpers import cli, config_dict, config_for
from replay import ReplayServer

from etl import ModelInfo, Pipeline
from etl.declared.validation import raw_schema
from etl.declared.values import load_values
from etl.errors import UsageError

HUGE = "1" + "0" * 400
MODELS = [{"name": "Big", "ids": {"openrouter": "acme/big"}}]  # 10^400, a JSON integer Python reads exactly


def test_every_numeric_model_spec_has_a_maximum():
    specs = raw_schema("model.schema.json")["properties"]["model_specs"]["properties"]
    assert {name: spec["maximum"] for name, spec in specs.items() if "maximum" in spec} == {
        "input_price": 10_000,
        "output_price": 10_000,
        "context_window": 1_000_000_000,
        "param_count": 10**14,
    }


def test_a_catalog_value_past_its_maximum_is_rejected_with_the_reason_and_not_written(workdir):
    entry = (
        '{"id": "acme/big", "name": "Acme: Big", "context_length": ' + HUGE + ', "pricing": '
        '{"prompt": "0.000001", "completion": "1e300"}}'
    )
    with ReplayServer() as server:
        server.route("/api/v1/models", 200, ('{"data": [' + entry + "]}").encode())
        config = config_for(workdir, server, [ModelInfo("Big", ids={"openrouter": "acme/big"})], only=["openrouter"])
        pipeline = Pipeline(config)
        pipeline.run()
    rows = {r["field"]: r for r in pipeline.store.staged("Big")}
    assert rows["context_window"]["rejected"].endswith("is above the maximum of 1000000000")
    assert rows["output_price"]["rejected"] == "1e+306 is above the maximum of 10000"
    assert rows["input_price"]["rejected"] is None and rows["input_price"]["value"] == 1.0
    written = json.loads((workdir / "out" / "Big_filled.json").read_text())["model_specs"]
    assert (written["context_window"], written["output_price"], written["input_price"]) == (None, None, 1.0)
    Path("c.yaml").write_text(yaml.safe_dump(config_dict(server, only=["openrouter"], models=MODELS)))
    explained = cli("explain", "Big", "output_price", "-c", "c.yaml", "--offline")
    assert "1e+306 is above the maximum of 10000" in explained.output, explained.output


@pytest.mark.parametrize(
    ("field", "value", "maximum"),
    [
        ("input_price", "1.0e+300", "10000"),
        ("context_window", HUGE, "1000000000"),
        ("param_count", "2.0e+15", "100000000000000"),
    ],
)
def test_a_hand_entered_value_past_its_maximum_is_refused_with_its_line(tmp_path, field, value, maximum):
    path = tmp_path / "values.yaml"
    path.write_text(f"models:\n  M:\n    model_specs.{field}: {{value: {value}, source: https://example.org}}\n")
    with pytest.raises(UsageError) as exc:
        load_values(path, ["M"])
    [problem] = exc.value.problems
    assert problem.startswith(f"{path}: models.M.model_specs.{field} (line 3): ")
    assert problem.endswith(f"the maximum of {maximum}; fix the value (schemas/model.schema.json, model_specs.{field})")
