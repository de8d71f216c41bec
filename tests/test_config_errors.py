"""Bad values in a config, on the command line, in a pins file or in mapping hints: one line each."""

from __future__ import annotations

import shutil

import pytest
from helpers import cli, errors

from etl.settings import mappings_dir


def test_nan_and_infinity_in_the_config_are_refused_once_per_place(workdir):
    (workdir / "c.yaml").write_text(
        "models: [a]\ntimeout: .nan\ncache_ttl_hours: .inf\nretry_backoff_factor: -.inf\n"
        "max_retries: 1000\nsources: {openrouter: {rate_limit: .nan, deadline: .inf}}\n"
    )
    result = cli("run", "-c", "c.yaml", "--offline")
    assert result.exit_code == 2
    assert errors(result) == [
        "error: c.yaml: cache_ttl_hours: inf is not a finite number; give a number",
        "error: c.yaml: retry_backoff_factor: -inf is not a finite number; give a number",
        "error: c.yaml: sources.openrouter.deadline: inf is not a finite number; give a number",
        "error: c.yaml: sources.openrouter.rate_limit: nan is not a finite number; give a number",
        "error: c.yaml: timeout: nan is not a finite number; give a number",
        "error: c.yaml: max_retries: 1000 is above the maximum of 100",
    ]


@pytest.mark.parametrize("flag", ["--timeout", "--rate-limit-aa", "--rate-limit-hf", "--max-retries"])
def test_absurd_numbers_on_the_command_line_are_refused(workdir, flag):
    for value in ("inf", "1e400", "100000000"):
        result = cli("run", "--models", '["a"]', "--offline", flag, value)
        assert result.exit_code == 2, (flag, value)
        assert f"Invalid value for '{flag}'" in result.output


def test_small_gaps(workdir, tmp_path):
    folder = tmp_path / "m"
    shutil.copytree(mappings_dir(), folder)
    text = (
        (folder / "sources.yaml")
        .read_text()
        .replace('      401: "Artificial Analysis rejected', '      unauthorized: "Artificial Analysis rejected', 1)
    )
    (folder / "sources.yaml").write_text(text)
    result = cli("mappings", "check", str(folder))
    assert (
        result.exit_code == 2
        and "Traceback" not in result.output
        and "sources.artificial_analysis.hints" in result.output
    )
    (workdir / "pins.yaml").write_text('"GLM-4.6": [a, b]\n')
    (workdir / "c.yaml").write_text("template_path: templates/template.json\npins_file: pins.yaml\nmodels: [GLM-4.6]\n")
    result = cli("run", "-c", "c.yaml", "--offline")
    assert result.exit_code == 2
    assert "pins.yaml: GLM-4.6: expected `source: id` (or false) lines under the model name" in result.output
    (workdir / "k.yaml").write_text("artificial_analysis_key: 0x1234abcd\n")
    result = cli("run", "-c", "k.yaml")
    assert (
        result.exit_code == 2
        and "305441741" not in result.output
        and "artificial_analysis_key: expected string, got int (quote it)" in result.output
    )
