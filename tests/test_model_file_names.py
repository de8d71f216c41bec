"""Model names as file names: too long, clashing, NFC/NFD forms, control characters, duplicates."""

from __future__ import annotations

import json
import os
import unicodedata
from pathlib import Path

import pytest
import yaml
from helpers import cli, config_dict, errors


def _offline_config(workdir: Path, server, **extra) -> Path:
    data = config_dict(server, only=["openrouter"], models=["Claude 3.5 Haiku"], **extra)
    (workdir / "c.yaml").write_text(yaml.safe_dump(data, allow_unicode=True))
    return workdir / "c.yaml"


def test_model_names_too_long_for_the_filesystem_are_refused_with_the_limit(workdir, server):
    limit = os.pathconf(workdir, "PC_NAME_MAX")
    latin, cjk = "a" * 300, "模" * 90  # 300 bytes; 270 bytes in UTF-8
    config = _offline_config(workdir, server)
    data = yaml.safe_load(config.read_text())
    data["models"] = [latin, cjk, "fits"]
    config.write_text(yaml.safe_dump(data, allow_unicode=True))
    result = cli("run", "-c", str(config))
    assert result.exit_code == 2
    out = workdir / "out"
    assert errors(result) == [
        f"error: {out}: model '{'a' * 76}... (302 chars): its file name is too long for this filesystem (its temp "
        f"file needs {300 + 7 + 14} bytes, the limit is {limit}); shorten the name by {300 + 21 - limit} byte(s) "
        "or more (in UTF-8 an accented or CJK character takes 2-3)",
        f"error: {out}: model '{'模' * 76}... (92 chars): its file name is too long for this filesystem (its temp "
        f"file needs {270 + 21} bytes, the limit is {limit}); shorten the name by {270 + 21 - limit} byte(s) "
        "or more (in UTF-8 an accented or CJK character takes 2-3)",
    ]
    assert server.count() == 0


def test_nfc_and_nfd_forms_of_one_name_are_one_model(workdir):
    nfc, nfd = unicodedata.normalize("NFC", "Modèle Été"), unicodedata.normalize("NFD", "Modèle Été")
    assert nfc != nfd
    (workdir / "c.yaml").write_text(yaml.safe_dump({"models": [nfc, nfd]}, allow_unicode=True))
    result = cli("run", "-c", "c.yaml", "--offline")
    assert result.exit_code == 2
    assert errors(result) == [
        "error: c.yaml: models[1].name: 'Modèle Été' is listed twice (in another Unicode form); keep one"
    ]
    folder = workdir / "models"
    folder.mkdir()
    for i, name in enumerate((nfc, nfd)):
        (folder / f"m{i}.json").write_text(json.dumps({"model_specs": {"model_name": name}}))
    result = cli("run", "--input-dir", str(folder), "--offline")
    assert result.exit_code == 2
    assert errors(result) == [
        f"error: {folder / 'm1.json'}: model name 'Modèle Été' is also the name of another file's model "
        "('Modèle Été'): both would write one file; rename one"
    ]


@pytest.mark.parametrize(("char", "code"), [("\n", "000A"), ("\x7f", "007F"), ("\u202e", "202E"), ("\x9b", "009B")])
def test_control_characters_in_model_names_are_refused(workdir, char, code):
    (workdir / "c.yaml").write_text(json.dumps({"models": [f"GLM{char}4.6"]}))
    result = cli("run", "-c", "c.yaml", "--offline")
    assert result.exit_code == 2
    assert errors(result) == [
        f"error: c.yaml: models[0].name: model name {f'GLM{char}4.6'!r} contains a control character (U+{code} "
        "at position 4); remove it"
    ]


def test_folder_mode_checks_hf_ids_duplicates_and_file_clashes(workdir):
    folder = workdir / "Models"
    folder.mkdir()
    (folder / "a.json").write_text(json.dumps({"name": "Same", "model_specs": {}}))
    (folder / "b.json").write_text(json.dumps({"name": "Same", "model_specs": {}}))
    (folder / "c.json").write_text(json.dumps({"name": "X", "hf_id": "../../../api/whoami-v2", "model_specs": {}}))
    result = cli("run", "--input-dir", "Models")
    assert result.exit_code == 2
    lines = [line for line in result.output.splitlines() if line.startswith("error: ")]
    assert (
        lines[0]
        == "error: Models/b.json: model name 'Same' is also the name of another file's model ('Same'): both would write one file; rename one"
    )
    assert lines[1].startswith(
        "error: Models/c.json: hf_id: '../../../api/whoami-v2' is not valid: expected a Hugging Face repo id"
    )


def test_names_that_would_write_one_file_are_refused(workdir):
    result = cli("run", "-t", "templates/template.json", "-m", '["GLM-4.6: x", "GLM-4.6? x"]')
    assert result.exit_code == 2
    assert (
        "error: --models: models[1].name: 'GLM-4.6? x' would write the same file as 'GLM-4.6: x' (GLM-4.6_ x_filled.json); rename one"
        in result.output
    )
