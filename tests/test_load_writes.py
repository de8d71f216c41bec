"""Where load writes: unusable output folders are refused before any request; stale temp files go."""

from __future__ import annotations

import os
import time
from pathlib import Path

import yaml
from helpers import cli, config_dict, errors, immutable


def _offline_config(workdir: Path, server, **extra) -> Path:
    data = config_dict(server, only=["openrouter"], models=["Claude 3.5 Haiku"], **extra)
    (workdir / "c.yaml").write_text(yaml.safe_dump(data, allow_unicode=True))
    return workdir / "c.yaml"


def test_an_output_folder_that_is_a_file_is_refused_before_any_request(workdir, server):
    (workdir / "out").write_text("a file")
    result = cli("run", "-c", str(_offline_config(workdir, server)))
    assert result.exit_code == 2
    assert errors(result) == [
        f"error: {workdir / 'out'}: {workdir / 'out'} is a file, not a folder; choose another --output-dir "
        "(or output_dir in the config)"
    ]
    assert server.count() == 0


def test_an_output_folder_that_is_not_writable_is_refused_before_any_request(workdir, server):
    (workdir / "out").mkdir()
    with immutable(workdir / "out"):
        result = cli("run", "-c", str(_offline_config(workdir, server)))
    assert result.exit_code == 2
    assert errors(result) == [
        f"error: {workdir / 'out'}: cannot write in the output folder (Operation not permitted); make it "
        "writable, or choose another --output-dir (or output_dir in the config)"
    ]
    assert server.count() == 0


def test_stale_temp_files_of_a_killed_run_are_removed_at_start(example_config):
    out = example_config.parent / "out"
    out.mkdir()
    stale = [out / ".DeepSeek V3_filled.k2j3h4g5.tmp", out / ".ATTRIBUTION.abcd1234.tmp"]
    fresh = out / ".Claude 3.5 Haiku_filled.zzzz9999.tmp"  # a live run's: renamed in a moment
    foreign = out / ".notes.abcd1234.tmp"  # not ours
    for path in [*stale, fresh, foreign]:
        path.write_text("{half a fi")
    old = time.time() - 3600
    for path in [*stale, foreign]:
        os.utime(path, (old, old))
    result = cli("run", "-c", str(example_config), "--offline")
    assert result.exit_code in (0, 1)
    assert [p.exists() for p in stale] == [False, False]
    assert fresh.exists() and foreign.exists()
