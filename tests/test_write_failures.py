"""A model file that cannot be written (disk full, immutable, read-only) is that model's failure:
the batch goes on, the recap is printed, the exit code is 1, and the previous file is intact."""

from __future__ import annotations

import errno
import json
import os
import stat

import pytest
from conftest import EXAMPLES
from helpers import cli

from etl import load
from etl.results import writes

TEMPLATE = (EXAMPLES / "templates" / "template.json").read_text()


def _failing_for(monkeypatch, stem: str, code: int) -> None:
    """write_atomic raises OSError(code) for the one file whose name starts with ``stem`` (a model
    file, written by the load; or the attribution file, written beside them by etl/results/writes.py)."""
    real = writes.write_atomic

    def write(target, text, mode=None):
        if target.name.startswith(stem):
            raise OSError(code, os.strerror(code), str(target))
        return real(target, text, mode)

    monkeypatch.setattr(load, "write_atomic", write)
    monkeypatch.setattr(writes, "write_atomic", write)


@pytest.mark.parametrize(
    ("code", "fix"),
    [
        (errno.ENOSPC, "free some disk space (or choose another --output-dir) and re-run"),
        (
            errno.EPERM,
            "the file is immutable or protected (`lsattr` shows it; `chattr -i` clears it): allow writing and re-run",
        ),
    ],
)
def test_a_model_file_that_cannot_be_written_in_place_fails_that_model_only(models_dir, monkeypatch, code, fix):
    folder, store = models_dir
    _failing_for(monkeypatch, "GLM-4.6.json", code)
    result = cli("run", "--input-dir", str(folder), "--in-place", "--offline", "--cache-path", str(store))
    assert result.exit_code == 1, result.output
    target = folder / "GLM-4.6.json"
    line = f"      error: {target}: cannot write the model file ({os.strerror(code)}); the previous file is unchanged; {fix}"
    assert line in result.output.splitlines()
    assert "FAILED GLM-4.6: " in result.output
    assert "2 written, 0 unchanged, 1 failed; " in result.output  # the recap, after the models that came later
    assert target.read_text() == TEMPLATE  # nothing truncated
    for other in ("Claude 3.5 Haiku", "gpt-oss-120b"):
        assert (folder / f"{other}.json").read_text() != TEMPLATE  # the batch went on


def test_a_full_disk_in_the_output_folder_fails_each_model_and_the_run_ends_with_a_recap(example_config, monkeypatch):
    _failing_for(monkeypatch, "Qwen3-32B_filled", errno.ENOSPC)
    result = cli("run", "-c", str(example_config), "--offline")
    assert result.exit_code == 1, result.output
    out = example_config.parent / "out"
    assert (
        f"      error: {out / 'Qwen3-32B_filled.json'}: cannot write the model file (No space left on device); "
        "the previous file is unchanged; free some disk space (or choose another --output-dir) and re-run"
    ) in result.output.splitlines()
    assert "9 written, 0 unchanged, 1 failed; " in result.output
    assert not (out / "Qwen3-32B_filled.json").exists()
    assert (out / "gpt-oss-120b_filled.json").exists()  # after it in the batch


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into a read-only folder")
def test_a_read_only_folder_fails_its_models_and_the_batch_goes_on(models_dir, workdir):
    """The folder becomes read-only after the pre-run check (between check and load)."""
    folder, store = models_dir
    from etl import Pipeline, PipelineConfig

    pipeline = Pipeline(PipelineConfig(input_dir=folder, in_place=True, offline=True, cache_path=store))
    models = pipeline.models()
    pipeline.check(models)
    pipeline.transform(models)
    os.chmod(folder, stat.S_IRUSR | stat.S_IXUSR)
    try:
        results = pipeline.load(models)
    finally:
        os.chmod(folder, 0o755)
    assert {r.status.value for r in results} == {"failed"}
    assert all("cannot write the model file (Permission denied)" in r.error for r in results)


def test_a_read_only_folder_as_root_is_simulated_by_refusing_the_temp_file(models_dir, monkeypatch):
    """As above, where root ignores permissions: mkstemp in the folder raises EACCES."""
    folder, store = models_dir
    real = writes.tempfile.mkstemp

    def mkstemp(*args, **kwargs):
        if "GLM-4.6" in kwargs.get("prefix", ""):
            raise PermissionError(errno.EACCES, "Permission denied")
        return real(*args, **kwargs)

    monkeypatch.setattr(writes.tempfile, "mkstemp", mkstemp)
    result = cli("run", "--input-dir", str(folder), "--in-place", "--offline", "--cache-path", str(store))
    assert result.exit_code == 1, result.output
    assert (
        f"      error: {folder / 'GLM-4.6.json'}: cannot write the model file (Permission denied); the previous file "
        "is unchanged; make the file and its folder writable and re-run, or choose another --output-dir"
    ) in result.output.splitlines()
    assert "2 written, 0 unchanged, 1 failed; " in result.output


def test_the_backup_of_a_private_model_file_is_private(models_dir):
    folder, store = models_dir
    path = folder / "Claude 3.5 Haiku.json"
    os.chmod(path, 0o600)
    result = cli("run", "--input-dir", str(folder), "--in-place", "--offline", "--cache-path", str(store))
    assert result.exit_code == 0, result.output
    backup = folder / "Claude 3.5 Haiku.json.bak"
    assert backup.read_text() == TEMPLATE
    assert stat.S_IMODE(backup.stat().st_mode) == 0o600
    assert json.loads(path.read_text()) != json.loads(TEMPLATE)


def test_an_attribution_file_that_cannot_be_written_is_one_line_after_the_models(example_config, monkeypatch):
    _failing_for(monkeypatch, "ATTRIBUTION", errno.ENOSPC)
    result = cli("run", "-c", str(example_config), "--offline")
    out = example_config.parent / "out"
    assert (
        f"{out / 'ATTRIBUTION.md'}: cannot write the attribution file (No space left on device); the previous file "
        "is unchanged; free some disk space (or choose another --output-dir) and re-run"
    ) in result.output.splitlines()
    assert "10 written, 0 unchanged, 0 failed; " in result.output
    assert result.exit_code == 0, result.output
