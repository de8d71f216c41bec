"""The last answer of each URL is a FetchOutcome (etl/results/outcomes.py) from the Fetcher, the retry
policy, the transport and cassette import alike; the store holds nothing else."""

from __future__ import annotations

import sqlite3

from helpers import config_for, import_into
from replay import CASSETTES, ReplayServer

from etl import ModelInfo, Pipeline
from etl.results.outcomes import FetchOutcome


def _outcomes(store) -> dict[str, str]:
    with sqlite3.connect(store) as db:
        return dict(db.execute("SELECT url, outcome FROM fetches").fetchall())


def test_every_outcome_in_the_store_is_a_fetch_outcome(workdir):
    models = [ModelInfo("Here", hf_id="acme/here"), ModelInfo("Gone", hf_id="acme/gone")]
    with ReplayServer() as server:
        server.route("/api/models/acme/here", 200, {"id": "acme/here", "siblings": []})
        server.route("/api/v1/models", 401, {"error": "no"})  # a failure for good (no retry)
        server.route("/acme/here/resolve/main/config.json", 200, b"x" * 100, {"Content-Type": "application/json"})
        config = config_for(workdir, server, models, only=["huggingface", "openrouter", "huggingface_config"])
        Pipeline(config).run()
    found = _outcomes(workdir / "store.sqlite")
    assert set(found.values()) == {o.value for o in FetchOutcome}  # ok, not_found (acme/gone) and failed
    assert found[f"{server.url}/api/models/acme/gone"] == FetchOutcome.NOT_FOUND
    assert found[f"{server.url}/api/v1/models"] == FetchOutcome.FAILED
    assert found[f"{server.url}/acme/here/resolve/main/config.json"] == FetchOutcome.FAILED  # does not parse


def test_cassette_import_records_fetch_outcomes(tmp_path):
    store = tmp_path / "s.sqlite"
    counts = import_into([CASSETTES / "huggingface_config.yaml"], store)
    assert counts["not_found"] >= 1
    assert set(_outcomes(store).values()) == {FetchOutcome.NOT_FOUND.value}
