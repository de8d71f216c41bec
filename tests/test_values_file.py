"""The values file's reader: values JSON cannot hold are one-line errors (never a traceback),
the file may name any model of the config when --models picks a few, and a big file is indexed."""

from __future__ import annotations

import json
import os
import stat

import pytest
import yaml
from helpers import cli, errors

from etl.declared.values import ManualValue, ManualValues
from etl.results.todo import todo_skeleton

FIELD = "model_specs.context_window"


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        (
            "2025-01-01",
            '2025-01-01 reads as a date in YAML, not a value JSON can hold; write a number, or quote it ("2025-01-01") '
            "to mean text",
        ),
        ("!!set {a: null}", "a YAML !!set, not a value JSON can hold; write a list, or a number"),
        ("!!binary aGVsbG8=", "YAML !!binary, not a value JSON can hold; write a number, or the text itself in quotes"),
    ],
)
@pytest.mark.parametrize("command", [["run"], ["todo"]])
def test_a_value_json_cannot_hold_is_a_one_line_error(example_config, value, problem, command):
    values = example_config.parent / "values.yaml"
    values.write_text(f"models:\n  gpt-oss-120b:\n    {FIELD}: {{value: {value}, source: x}}\n")
    result = cli(*command, "-c", str(example_config), "--offline")
    assert result.exit_code == 2, result.output
    assert result.output == f"error: {values}: models.gpt-oss-120b.{FIELD}.value (line 3): {problem}\n"


@pytest.mark.parametrize("command", [["run"], ["todo"]])
def test_an_integer_of_5000_digits_is_a_one_line_error(example_config, command):
    values = example_config.parent / "values.yaml"
    values.write_text(f"models:\n  gpt-oss-120b:\n    {FIELD}: {{value: {'1' * 5000}, source: x}}\n")
    result = cli(*command, "-c", str(example_config), "--offline")
    assert result.exit_code == 2, result.output
    assert (
        result.output == f"error: {values}: line 3: an integer of 5,000 digits (more than 4300); write the real value\n"
    )


def test_models_picked_with_dash_m_may_leave_values_of_other_configured_models(example_config):
    """The example's values file names Claude 3.5 Haiku and gpt-oss-120b; -m runs GLM-4.6 alone."""
    result = cli("run", "-c", str(example_config), "--offline", "-m", '{"name": "GLM-4.6", "hf_id": "zai-org/GLM-4.6"}')
    assert result.exit_code == 0, result.output
    assert "unknown model" not in result.output
    assert "1 written, 0 unchanged, 0 failed; " in result.output


def test_a_model_of_the_values_file_picked_with_dash_m_gets_its_value(example_config):
    result = cli(
        "run", "-c", str(example_config), "--offline", "-m", '{"name": "gpt-oss-120b", "hf_id": "openai/gpt-oss-120b"}'
    )
    assert "1 written, 0 unchanged, 0 failed; " in result.output, result.output
    written = json.loads((example_config.parent / "out" / "gpt-oss-120b_filled.json").read_text())
    assert written["model_specs"]["param_count"] == 117_000_000_000


def test_a_model_in_neither_the_config_nor_the_run_is_still_refused(example_config):
    values = example_config.parent / "values.yaml"
    values.write_text(f"models:\n  gpt-oss-12b:\n    {FIELD}: {{value: 5, source: x}}\n")
    result = cli("run", "-c", str(example_config), "--offline", "-m", '{"name": "GLM-4.6"}')
    assert result.exit_code == 2, result.output
    assert (
        f"error: {values}: models.gpt-oss-12b (line 2): unknown model 'gpt-oss-12b' (not in the config)"
        in result.output
    )


class _CountedList(list):
    """A list that counts how often it is walked."""

    walks = 0

    def __iter__(self):
        type(self).walks += 1
        return super().__iter__()


def test_values_per_model_are_indexed_once():
    """for_model walked every value per model: O(models x values), 61 s for 50,000 entries
    (benchmarks/values_file.py measures it). The values are walked once, whatever the lookups."""
    values = _CountedList(
        ManualValue(f"m{i}", "model_specs", "context_window", i, "x", None, "v.yaml", i) for i in range(1_000)
    )
    _CountedList.walks = 0
    manual = ManualValues(None, "first", values)  # type: ignore[arg-type]
    found = [manual.for_model(f"m{i}") for i in range(1_000)]
    assert [f[0].value for f in found] == list(range(1_000))
    assert manual.for_model("nobody") == []
    assert _CountedList.walks <= 1


# ----- etl todo --write -----------------------------------------------------------------------------


def test_todo_write_onto_a_symlink_writes_the_file_it_points_to(example_config):
    folder = example_config.parent
    real = folder / "checkout" / "values.yaml"
    real.parent.mkdir()
    (folder / "values.yaml").replace(real)
    (folder / "values.yaml").symlink_to(real)
    os.chmod(real, 0o600)
    result = cli("todo", "-c", str(example_config), "--offline", "--write", str(folder / "values.yaml"))
    assert result.exit_code == 0, result.output
    assert (folder / "values.yaml").is_symlink()
    assert "GRM-2.6-Opus" in real.read_text()  # a model still blocked, written into the real file
    assert stat.S_IMODE(real.stat().st_mode) == 0o600


def test_todo_write_keeps_comments_when_models_is_not_the_last_key(example_config):
    values = example_config.parent / "values.yaml"
    text = values.read_text()
    assert text.count("precedence: first\n") == 1
    reordered = (
        text.replace("precedence: first\n", "")
        + "# chosen on purpose: sources win over hand values\nprecedence: last\n"
    )
    values.write_text(reordered)
    result = cli("todo", "-c", str(example_config), "--offline", "--write", str(values))
    assert result.exit_code == 0, result.output
    written = values.read_text()
    for line in reordered.splitlines():  # every line the user wrote is still there, in order
        assert line in written.splitlines()
    assert written.endswith("# chosen on purpose: sources win over hand values\nprecedence: last\n")
    data = yaml.safe_load(written)
    assert data["precedence"] == "last"
    assert data["models"]["GRM-2.6-Opus"]["model_specs.input_price"] is None  # a new open entry, in models


@pytest.mark.parametrize("value", [".inf", ".nan"])
def test_a_non_finite_number_in_the_values_file_is_a_one_line_error(example_config, value):
    """values._entry_problems lets .inf/.nan through (jsonschema accepts them as numbers); load's
    json.dumps(allow_nan=False) then raises ValueError: a traceback."""
    values = example_config.parent / "values.yaml"
    values.write_text(f"models:\n  gpt-oss-120b:\n    model_specs.input_price: {{value: {value}, source: x}}\n")
    result = cli("run", "-c", str(example_config), "--offline")
    assert result.exit_code == 2, result.output
    assert f"{values}: models.gpt-oss-120b.model_specs.input_price (line 3): " in result.output


def test_todo_writes_model_names_that_yaml_reads_back_as_the_same_names():
    """values._yaml_key writes `true`, `null`, `No` unquoted: the next run reads True/None/False
    and refuses its own skeleton ('unknown model 'True' (not in the config)')."""
    names = ["true", "null", "No", "on", "~"]
    text = todo_skeleton(None, {n: [("model_specs.param_count", [])] for n in names})
    assert set(yaml.safe_load(text)["models"]) == set(names)


def test_todo_write_keeps_the_users_comments_in_the_values_file(example_config):
    """cli.todo regenerates the file from its parsed data (todo.todo_skeleton): every comment the
    user wrote is gone, here the example's reasons why Claude's param_count is left out on purpose;
    no backup is kept. The README tells users to run exactly this on examples/values.yaml."""
    values = example_config.parent / "values.yaml"
    reason = "# or the architecture of any Claude model, and no public source found states them."
    assert reason in values.read_text()
    result = cli("todo", "-c", str(example_config), "--offline", "--write", str(values))
    assert result.exit_code == 0, result.output
    assert reason in values.read_text()


def test_a_model_written_twice_in_the_values_file_is_refused_not_half_dropped(example_config):
    """files.load_yaml keeps the last of two equal keys: the first block's cited value is silently
    not used, and `etl todo --write` then deletes it from the file."""
    values = example_config.parent / "values.yaml"
    values.write_text(
        "models:\n"
        "  gpt-oss-120b:\n"
        "    model_specs.param_count: {value: 117000000000, source: 'https://developers.openai.com'}\n"
        "  gpt-oss-120b:\n"
        "    model_specs.input_price: {value: 0.1, source: x}\n"
    )
    result = cli("run", "-c", str(example_config), "--offline")
    assert result.exit_code == 2, result.output
    assert f"error: {values}: line 4" in result.output


def test_a_duplicate_key_in_a_values_file_is_an_error(workdir):
    (workdir / "values.yaml").write_text(
        "models:\n  a:\n    input_price: {value: 1, source: x}\n    input_price: {value: 2, source: y}\n"
    )
    (workdir / "c.yaml").write_text(
        "models: [a]\nvalues_file: values.yaml\ntemplate_path: templates/template.json\ncache_path: s.db\n"
    )
    result = cli("run", "-c", "c.yaml", "--offline")
    assert result.exit_code == 2
    assert errors(result) == [
        f"error: {workdir / 'values.yaml'}: line 4: duplicate key 'input_price' (first on line 3); keep one"
    ]
