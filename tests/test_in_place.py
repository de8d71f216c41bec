"""Filling a consumer's folder in place: a file the run adds nothing to is not touched (same bytes,
same mtime, no .bak), a file that gets a value keeps exactly one .bak, and ATTRIBUTION.md never
lands among the model files."""

from __future__ import annotations

import json
import os
import shutil
import stat

import pytest
from conftest import EXAMPLES
from helpers import cli

PAST = 1_600_000_000_000_000_000  # 2020-09-13, in ns: any rewrite would move it


@pytest.fixture
def models(workdir, warm_store):
    """Models/ as a user keeps it: their own formatting (2-space indent, a trailing space), one
    model no source knows (nothing to fill) and one the sources fill."""
    folder = workdir / "Models"
    folder.mkdir()
    template = json.loads((EXAMPLES / "templates" / "template.json").read_text())
    for name, extra in (("Acme Internal 7B", {}), ("DeepSeek V3", {"hf_id": "deepseek-ai/DeepSeek-V3"})):
        text = json.dumps(template | extra, indent=2).replace('"model_specs": {', '"model_specs": { ', 1)
        (folder / f"{name}.json").write_text(text + "\n")
        os.utime(folder / f"{name}.json", ns=(PAST, PAST))
    shutil.copy(warm_store, workdir / "s.sqlite")
    return folder


ARGS = ("run", "--input-dir", "Models", "--in-place", "--offline", "--cache-path", "s.sqlite")


def _state(path):
    return path.read_bytes(), path.stat().st_mtime_ns


def test_a_file_with_nothing_to_fill_keeps_its_bytes_and_mtime_and_gets_no_bak(models):
    acme = models / "Acme Internal 7B.json"
    before = _state(acme)
    result = cli(*ARGS)
    assert result.exit_code == 0, result.output
    assert _state(acme) == before
    assert not (models / "Acme Internal 7B.json.bak").exists()
    assert "-> Models/Acme Internal 7B.json (unchanged: not rewritten)" in result.output
    assert "1 written, 1 unchanged, 0 failed;" in result.output


def test_a_file_with_a_value_gets_exactly_one_bak_and_a_rerun_touches_nothing(models):
    deepseek = models / "DeepSeek V3.json"
    original = deepseek.read_bytes()
    assert cli(*ARGS).exit_code == 0
    assert json.loads(deepseek.read_text())["model_specs"]["architecture"] == "moe"
    assert sorted(p.name for p in models.glob("*.bak")) == ["DeepSeek V3.json.bak"]
    assert (models / "DeepSeek V3.json.bak").read_bytes() == original
    after = {p.name: _state(p) for p in models.iterdir()}
    again = cli(*ARGS)
    assert again.exit_code == 0, again.output
    assert {p.name: _state(p) for p in models.iterdir()} == after  # bytes and mtimes, .bak once
    assert "0 written, 2 unchanged, 0 failed;" in again.output


def test_the_bak_is_the_original_byte_for_byte_crlf_included(models):
    deepseek = models / "DeepSeek V3.json"
    original = deepseek.read_bytes().replace(b"\n", b"\r\n")  # a file saved on Windows
    deepseek.write_bytes(original)
    assert cli(*ARGS).exit_code == 0
    assert (models / "DeepSeek V3.json.bak").read_bytes() == original


def test_attribution_stays_out_of_the_model_folder(models, workdir):
    assert cli(*ARGS).exit_code == 0
    assert sorted(p.name for p in models.iterdir()) == [
        "Acme Internal 7B.json",
        "DeepSeek V3.json",
        "DeepSeek V3.json.bak",
    ]
    assert (workdir / "Models_ATTRIBUTION.md").read_text().startswith("# Data sources")
    (workdir / "c.yaml").write_text("input_dir: Models\nin_place: true\nattribution_file: docs/SOURCES.md\n")
    assert cli("run", "-c", "c.yaml", "--offline", "--cache-path", "s.sqlite").exit_code == 0
    assert "- **huggingface**:" in (workdir / "docs" / "SOURCES.md").read_text()


def test_attribution_is_not_rewritten_when_it_says_the_same(example_config, workdir):
    assert cli("run", "-c", str(example_config), "--offline").exit_code == 0
    attribution = workdir / "out" / "ATTRIBUTION.md"
    os.utime(attribution, ns=(PAST, PAST))
    assert cli("run", "-c", str(example_config), "--offline").exit_code == 0
    assert attribution.stat().st_mtime_ns == PAST


def test_an_attribution_folder_that_cannot_be_written_is_refused_before_the_run(models, workdir):
    (workdir / "blocker").write_text("a file, not a folder")
    (workdir / "c.yaml").write_text("input_dir: Models\nin_place: true\nattribution_file: blocker/A.md\n")
    result = cli("run", "-c", "c.yaml", "--offline", "--cache-path", "s.sqlite")
    assert result.exit_code == 2
    assert result.output.strip() == (
        f"error: {workdir / 'blocker' / 'A.md'}: cannot write the attribution file there; "
        "set attribution_file in the config to a path in a writable folder"
    )
    assert not list(models.glob("*.bak"))


def test_in_place_fills_the_file_a_symlink_points_to_and_keeps_the_link(models_dir, workdir):
    """load.write_atomic os.replace()s the link itself: the link becomes a regular file and the
    real file (a checkout the link points into) is never filled."""
    folder, store = models_dir
    real = workdir / "checkout" / "GLM-4.6.json"
    real.parent.mkdir()
    (folder / "GLM-4.6.json").replace(real)
    (folder / "GLM-4.6.json").symlink_to(real)
    result = cli("run", "--input-dir", str(folder), "--in-place", "--offline", "--cache-path", str(store))
    assert result.exit_code == 0, result.output
    assert (folder / "GLM-4.6.json").is_symlink()
    assert json.loads(real.read_text())["model_specs"]["context_window"] is not None


def test_in_place_keeps_a_private_file_private(models_dir):
    """write_atomic gives the new file the umask's mode: a 0600 model file becomes 0644."""
    folder, store = models_dir
    path = folder / "Claude 3.5 Haiku.json"
    os.chmod(path, 0o600)
    result = cli("run", "--input-dir", str(folder), "--in-place", "--offline", "--cache-path", str(store))
    assert result.exit_code == 0, result.output
    assert path.read_text() != (EXAMPLES / "templates" / "template.json").read_text()  # it was filled
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
