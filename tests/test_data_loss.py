"""One bad answer never erases a filled value: a shrunken catalog is a failure and the cached copy
stays in use; a value no source gives any more is kept from the last load unless
--allow-removals, and then `etl diff` lists the removal."""

from __future__ import annotations

import json
import re

import pytest
import yaml
from helpers import cli, config_dict
from replay import CASSETTES, ReplayServer
from vcr.persisters.filesystem import FilesystemPersister
from vcr.serializers import yamlserializer

MODEL = {"name": "GLM-4.6", "hf_id": "zai-org/GLM-4.6"}


def _catalog() -> dict:
    _, responses = FilesystemPersister.load_cassette(str(CASSETTES / "openrouter_models.yaml"), yamlserializer)
    return json.loads(responses[0]["body"]["string"])


def _filled(workdir) -> dict:
    return json.loads((workdir / "out" / "GLM-4.6_filled.json").read_text())["model_specs"]


def _first_run(workdir, server) -> dict:
    (workdir / "c.yaml").write_text(yaml.safe_dump(config_dict(server, ["openrouter"], models=[MODEL])))
    first = cli("run", "-c", "c.yaml")
    assert first.exit_code == 0, first.output
    return _filled(workdir)


@pytest.mark.parametrize("kept_share", [0.0, 0.3])
def test_a_catalog_that_shrinks_on_refresh_is_a_failure_and_the_values_stay(workdir, kept_share):
    catalog = _catalog()
    with ReplayServer(["openrouter_models.yaml"]) as server:
        before = _first_run(workdir, server)
        entries = [e for e in catalog["data"] if not re.search(":[a-z-]+$", e["id"])]  # the source's `where`
        glm = [e for e in entries if e["id"] == "z-ai/glm-4.6"]
        smaller = glm + [e for e in entries if e not in glm][: int(len(entries) * kept_share)]
        server.route("/api/v1/models", body={**catalog, "data": smaller if kept_share else []})
        result = cli("run", "-c", "c.yaml", "--refresh")
    assert result.exit_code == 1
    cached = len(entries)
    assert (
        f"source failure: openrouter: {server.url}/api/v1/models answered {len(smaller) if kept_share else 0} "
        f"record(s) where the cached copy has {cached} (more than 50% fewer): kept the cached copy; "
        "if the catalog really shrank, raise sources.openrouter.shrink_limit"
    ) in result.output
    assert _filled(workdir) == before and before["input_price"] == 0.5


def _without_glm_prices(catalog: dict) -> dict:
    data = [
        {**e, "pricing": {**e["pricing"], "prompt": "-1", "completion": "-1"}} if e["id"] == "z-ai/glm-4.6" else e
        for e in catalog["data"]
    ]
    return {**catalog, "data": data}


def test_a_value_no_source_gives_any_more_is_kept_and_said_so(workdir):
    with ReplayServer(["openrouter_models.yaml"]) as server:
        before = _first_run(workdir, server)
        server.route("/api/v1/models", body=_without_glm_prices(_catalog()))
        result = cli("run", "-c", "c.yaml", "--refresh")
    assert result.exit_code == 0, result.output
    assert _filled(workdir) == before
    assert (
        "      kept from the last load (no source gives them now; --allow-removals drops them): "
        "model_specs.input_price, model_specs.output_price"
    ) in result.output
    assert (
        "0 written, 1 unchanged, 0 failed; 3/4 fields filled; 0 source failure(s); 0/1 scoreable; 2 value(s) kept from the last load"
        in result.output
    )
    assert cli("diff", "-c", "c.yaml").output.splitlines()[-1] == "0 change(s) since the previous load"


def test_allow_removals_drops_them_and_diff_lists_each_removal(workdir):
    with ReplayServer(["openrouter_models.yaml"]) as server:
        _first_run(workdir, server)
        server.route("/api/v1/models", body=_without_glm_prices(_catalog()))
        result = cli("run", "-c", "c.yaml", "--refresh", "--allow-removals")
    assert result.exit_code == 0, result.output
    assert _filled(workdir)["input_price"] is None
    assert (
        "removed (--allow-removals; `etl diff` lists them): model_specs.input_price, model_specs.output_price"
        in result.output
    )
    diff = cli("diff", "-c", "c.yaml").output.splitlines()
    assert diff == [
        "GLM-4.6: model_specs.input_price: 0.5 -> null (removed: no source gives it now (--allow-removals))",
        "GLM-4.6: model_specs.output_price: 2 -> null (removed: no source gives it now (--allow-removals))",
        "2 change(s) since the previous load",
    ]


def test_the_same_record_served_twice_is_one_entry_not_an_ambiguity(workdir):
    catalog = _catalog()
    glm = [e for e in catalog["data"] if e["id"] == "z-ai/glm-4.6"]
    with ReplayServer() as server:
        server.route("/api/v1/models", body={**catalog, "data": catalog["data"] + glm})
        result = _first_run(workdir, server)
    assert result["input_price"] == 0.5


@pytest.mark.parametrize("bad", ["12.5", {"usd": 3}, -2, 1e309])
def test_a_wrong_typed_value_is_refused_with_its_source_and_the_next_candidate_fills(workdir, monkeypatch, bad):
    monkeypatch.setenv("ARTIFICIAL_ANALYSIS_API_KEY", "aa-test-key-0123456789")
    entry = {"id": "x", "slug": "glm-4-6", "name": "GLM-4.6", "pricing": {"price_1m_input_tokens": bad}}
    page = {"pagination": {"page": 1, "has_more": False}, "data": [entry]}
    with ReplayServer(["openrouter_models.yaml"]) as server:
        server.route("/api/v2/language/models/free?page=1", body=page)
        data = config_dict(server, ["openrouter", "artificial_analysis"], models=[MODEL])
        (workdir / "c.yaml").write_text(yaml.safe_dump(data))
        result = cli("run", "-c", "c.yaml")
    assert result.exit_code == 0, result.output
    assert _filled(workdir)["input_price"] == 0.5  # OpenRouter's valid value, not a blocked file
    explained = cli("explain", "-c", "c.yaml", "--offline", "GLM-4.6", "input_price").output
    assert "[REJECTED: " in explained and "source:     artificial_analysis" in explained
    assert "model_specs.input_price = 0.5  [chosen]" in explained


def test_values_kept_from_the_last_load_do_not_cross_into_another_output(example_config):
    """load.Loader._keep_lost reads `loads` by model name only: a hand-entered value of the example's
    values file (Claude 3.5 Haiku's context window) lands in another config's output that has no
    values file, as 'manual (kept from the load of ...)'."""
    assert cli("run", "-c", str(example_config), "--offline").exit_code == 0
    data = yaml.safe_load(example_config.read_text())
    other = {
        "template_path": data["template_path"],
        "cache_path": data["cache_path"],
        "output_dir": str(example_config.parent / "other"),
        "models": ["Claude 3.5 Haiku"],
    }
    path = example_config.parent / "other.yaml"
    path.write_text(yaml.safe_dump(other))
    cli("run", "-c", str(path), "--offline")
    written = json.loads((example_config.parent / "other" / "Claude 3.5 Haiku_filled.json").read_text())
    assert written["model_specs"]["context_window"] is None
