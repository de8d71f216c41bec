"""One store per user: cassettes imported in one folder serve a run in another (the README's
folder flow), the store in use is named in the recap, and a config's cache_path or --cache-path
wins over the default. Tests never touch the real user cache folder: conftest points
ETL_CACHE_PATH at each test's own folder."""

from __future__ import annotations

import json
import os
from pathlib import Path

import platformdirs
import yaml
from conftest import ALL_CASSETTES, EXAMPLES
from helpers import cli

from etl import PipelineConfig, settings

LSE_MODELS = {"DeepSeek V3": "deepseek-ai/DeepSeek-V3", "GLM-4.6": None, "Claude 3.5 Haiku": None}


def _lse_checkout(root: Path) -> Path:
    """An LLMScoreEngine checkout: Models/ with one file per model (no hf_id: as LLMScoreEngine's)."""
    folder = root / "Models"
    folder.mkdir(parents=True)
    template = json.loads((EXAMPLES / "templates" / "template.json").read_text())
    for name in LSE_MODELS:
        (folder / f"{name}.json").write_text(json.dumps(template, indent=4) + "\n")
    return root


def test_the_default_store_is_the_user_cache_folder_unless_the_variable_names_another(monkeypatch, tmp_path):
    monkeypatch.delenv(settings.STORE_ENV)
    expected = platformdirs.user_cache_path("llm-benchmark-etl") / "etl.sqlite"
    assert settings.default_store_path() == expected == PipelineConfig().cache_path  # computed, never written here
    monkeypatch.setenv(settings.STORE_ENV, str(tmp_path / "mine.sqlite"))
    assert PipelineConfig().cache_path == tmp_path / "mine.sqlite"


def test_a_relative_variable_names_one_file_whatever_folder_a_command_runs_from(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv(settings.STORE_ENV, "rel.sqlite")
    assert settings.default_store_path() == tmp_path / "rel.sqlite"


def test_the_readme_folder_flow_from_another_folder_than_the_import(tmp_path, monkeypatch):
    store = Path(os.environ[settings.STORE_ENV])  # this test's stand-in for the user cache folder
    product = tmp_path / "llm-benchmark-etl"
    product.mkdir()
    monkeypatch.chdir(product)
    imported = cli("cache", "import", *map(str, ALL_CASSETTES))
    assert imported.exit_code == 0 and imported.output.startswith(f"{store}: ")
    monkeypatch.chdir(_lse_checkout(tmp_path / "LLMScoreEngine"))
    Path("scoring.yaml").write_text("input_dir: Models\nin_place: true\n")  # the README's printf
    first = cli("run", "-c", "scoring.yaml", "--offline")
    assert first.exit_code == 0, first.output
    assert f"store: {store}" in first.output
    assert not Path(".etl").exists()  # nothing per working directory
    pins = cli("match", "-c", "scoring.yaml", "--write-pins", "pins.yaml")
    assert pins.exit_code == 0 and "pins.yaml: " in pins.output
    decided = yaml.safe_load(Path("pins.yaml").read_text())
    assert "artificial_analysis" in decided["GLM-4.6"]  # the ambiguous name is the first decision
    text = Path("pins.yaml").read_text().replace("  artificial_analysis: null", "  artificial_analysis: glm-4-6", 1)
    Path("pins.yaml").write_text(text)
    with open("scoring.yaml", "a") as config:
        config.write("pins_file: pins.yaml\n")
    todo = cli("todo", "-c", "scoring.yaml", "--write", "values.yaml")
    assert todo.exit_code == 0 and "values.yaml: " in todo.output
    values = yaml.safe_load(Path("values.yaml").read_text())
    values["models"]["Claude 3.5 Haiku"] = {
        "model_specs.architecture": {"value": "dense", "source": "https://www.anthropic.com/claude/haiku"},
        "model_specs.context_window": {"value": 200_000, "source": "https://docs.anthropic.com/en/docs/models"},
        "model_specs.param_count": {"value": 20_000_000_000, "source": "an estimate, for this test"},
    }
    Path("values.yaml").write_text(yaml.safe_dump(values))
    with open("scoring.yaml", "a") as config:
        config.write("values_file: values.yaml\n")
    last = cli("run", "-c", "scoring.yaml", "--offline")
    assert last.exit_code == 0, last.output
    assert "3/3 scoreable" in last.output
    glm = json.loads(Path("Models/GLM-4.6.json").read_text())
    assert glm["model_specs"]["input_price"] is not None  # from the pinned AA entry


def test_cache_path_and_the_config_win_over_the_default(example_config, workdir):
    other = workdir / "elsewhere.sqlite"
    result = cli("run", "-c", str(example_config), "--offline", "--cache-path", str(other))
    assert result.exit_code == 3  # an empty store: incomplete, and it says which store it read
    assert f"store: {other}" in result.output
    default = Path(os.environ[settings.STORE_ENV])
    assert not default.exists()  # neither the flag nor the config's cache_path fell back to it
    assert cli("run", "-c", str(example_config), "--offline").exit_code == 0  # the config's cache_path
    assert not default.exists()


def test_the_variable_name_is_written_once():
    """The schema and README name it; the code reads settings.STORE_ENV only."""
    package = Path(settings.__file__).parent
    assert [p.name for p in package.glob("*.py") if '"ETL_CACHE_PATH"' in p.read_text()] == ["settings.py"]
