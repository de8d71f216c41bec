"""The pins file: upstream text written into it (entry ids and names, where a key was found) can
never add keys, and a string pin for a source whose URL takes a repo id is checked as one (the
rule of config.REPO_ID) before any request: '../../whoami-v2' would send the token elsewhere."""

from __future__ import annotations

import json

import pytest
import yaml
from helpers import cli, config_dict

from etl import ModelInfo, Pipeline, PipelineConfig
from etl.declared.pins import read_pins, write_pins
from etl.errors import UsageError

INJECTED = 'bar-2\n"Bar 2": {huggingface: evil/injected}\n"Foo":\n  huggingface: evil/other  #'


def test_an_entry_id_with_line_breaks_cannot_inject_pins(tmp_path):
    path = tmp_path / "pins.yaml"
    ambiguous = {"Bar 2": {"artificial_analysis": [{"id": INJECTED, "name": "Bar\u20282"}, {"id": "b", "name": "B"}]}}
    discovered = {"Foo": {"huggingface": ("org/foo", f"openrouter entry {INJECTED} (hugging_face_id)")}}
    left = write_pins(path, ambiguous, {"Bar 2": ["lmarena\r\n  huggingface: x/y"]}, discovered)
    assert left == 1
    assert read_pins(path) == {"Bar 2": {"artificial_analysis": None}, "Foo": {"huggingface": "org/foo"}}
    text = path.read_text()
    assert len(text.splitlines()) == 7  # two header lines, one per model, one per pin, one comment
    assert (
        '  artificial_analysis: null  # ambiguous: bar-2\\n"Bar 2": {huggingface: evil/injected}\\n"Foo":\\n  '
        "huggingface: evil/other  # = Bar\\u20282; b = B"
    ) in text.splitlines()


def test_write_pins_keeps_a_decided_pin_with_line_breaks_as_one_value(tmp_path):
    path = tmp_path / "pins.yaml"
    path.write_text(json.dumps({"M\nx": {"aider": "a\nb: c", "lmarena\nq": False}}))
    write_pins(path, {}, {})
    assert read_pins(path) == {"M\nx": {"aider": "a\nb: c", "lmarena\nq": False}}


def test_a_string_pin_that_is_not_a_repo_id_is_refused_before_any_request(workdir, server):
    model = {"name": "M", "hf_id": "org/m", "ids": {"huggingface": "../../../../whoami-v2"}}
    (workdir / "c.yaml").write_text(yaml.safe_dump(config_dict(server, ["huggingface"], models=[model])))
    result = cli("run", "-c", "c.yaml")
    assert result.exit_code == 2, result.output
    assert result.output == (
        "error: model \"M\": ids.huggingface: '../../../../whoami-v2' is not a Hugging Face repo id (one "
        "owner/name of letters, digits, '.', '_' and '-'; no '..', '?', '#' or spaces); write the repo as "
        "owner/name (as on huggingface.co), or false for 'not in this source'\n"
    )
    assert server.log == []


@pytest.mark.parametrize("pin", ["org/m?x=1", "org/m/../../whoami-v2", "org/m\n", "a/b/c", "org/m#f", "whoami-v2"])
def test_a_pins_file_pin_that_is_not_a_repo_id_is_refused_naming_the_file(workdir, server, pin):
    (workdir / "pins.yaml").write_text(json.dumps({"M": {"huggingface_config": pin}}))
    data = config_dict(server, ["huggingface", "huggingface_config"], models=[{"name": "M", "hf_id": "org/m"}])
    (workdir / "c.yaml").write_text(yaml.safe_dump({**data, "pins_file": "pins.yaml"}))
    result = cli("run", "-c", "c.yaml")
    assert result.exit_code == 2, result.output
    assert result.output.startswith(f'error: {workdir / "pins.yaml"}: "M".huggingface_config: ')
    assert "is not a Hugging Face repo id" in result.output
    assert server.log == []


def test_catalog_pins_stay_entry_ids_and_repo_pins_pass(workdir, server):
    """A catalog's pin is an entry id (any text); a repo pin of the right shape is used."""
    ids = {"aider": "DeepSeek Chat V3 (prev)", "huggingface": "org/other"}
    config = PipelineConfig.from_dict(config_dict(server, ["huggingface", "aider"]), "t", base_dir=workdir)
    pipeline = Pipeline(config)
    assert pipeline.with_pins([ModelInfo("M", "org/m", dict(ids))])[0].ids == ids


def test_an_api_model_with_a_forged_hf_id_is_refused_before_extract(workdir, server):
    config = PipelineConfig.from_dict(config_dict(server, ["huggingface"]), "t", base_dir=workdir)
    with pytest.raises(UsageError, match=r"^model \"M\": hf_id: '\.\./whoami-v2' is not a Hugging Face repo id"):
        Pipeline(config).extract([ModelInfo("M", "../whoami-v2")])
    assert server.log == []


def test_match_write_pins_with_an_injected_entry_id_from_a_catalog(workdir, server):
    """The issue's case end to end: an OpenRouter entry id with an escape sequence and line breaks."""
    evil = 'acme/foo\x1b[2J\n"Bar 2": {huggingface: evil/injected}\n#'
    entry = {"name": "Foo Bar", "pricing": {"prompt": "0.000001", "completion": "0.000002"}, "context_length": 1000}
    server.route("/api/v1/models", 200, {"data": [{"id": evil, **entry}, {"id": "acme/foo-2", **entry}]})
    models = [{"name": "Foo Bar"}, {"name": "Bar 2"}]
    (workdir / "c.yaml").write_text(yaml.safe_dump(config_dict(server, ["openrouter"], models=models)))
    assert cli("run", "-c", "c.yaml").exit_code == 0
    result = cli("match", "-c", "c.yaml", "--offline", "--write-pins", "pins.yaml")
    assert result.exit_code == 0, result.output
    assert "\x1b" not in result.output
    shown = 'acme/foo\\x1b[2J\\n"Bar 2": {huggingface: evil/injected}\\n#'
    assert f"{' ' * 64}candidate: {shown} (Foo Bar)" in result.output.splitlines()
    assert read_pins(workdir / "pins.yaml") == {"Bar 2": {}, "Foo Bar": {"openrouter": None}}
    assert f"  openrouter: null  # ambiguous: {shown} = Foo Bar; acme/foo-2 = Foo Bar" in (
        (workdir / "pins.yaml").read_text().splitlines()
    )
