"""access.py: the fetcher the transform opens reads a per-model document from the cache once when
two sources ask for it in a row (a model's model info, then the listing of its .eval_results files)."""

from __future__ import annotations

from etl import PipelineConfig
from etl.declared.config import ModelInfo
from etl.declared.mappings import load_mappings
from etl.declared.sources import Sources, url_for
from etl.http.fetch import Fetcher
from etl.matching.access import RecentFetcher, listed_files, open_fetcher
from etl.store.store import Store


def test_offline_fetcher_reads_a_model_info_once_for_its_source_and_its_listing(warm_store, tmp_path, monkeypatch):
    store_path = tmp_path / "etl.sqlite"
    store_path.write_bytes(warm_store.read_bytes())
    config = PipelineConfig(cache_path=store_path)
    sources = Sources(load_mappings(), config)
    reads: list[str] = []
    real_get = Fetcher.get
    monkeypatch.setattr(
        Fetcher, "get", lambda self, src, url, params: reads.append(url) or real_get(self, src, url, params)
    )
    model = ModelInfo(name="GRM-2.6-Opus", hf_id="OrionLLM/GRM-2.6-Opus")
    info, evals = sources.active["huggingface"], sources.active["hf_eval_results"]
    fetcher = open_fetcher(config, sources, Store(store_path), offline=True)
    try:
        assert isinstance(fetcher, RecentFetcher)
        doc = fetcher.documents(info, url_for(info, model))[0]
        files = listed_files(sources, evals, model, fetcher)
    finally:
        fetcher.close()
    assert files == evals.listed_by.files(doc.body) and files  # the same listing as from a fresh read
    assert reads == [url_for(info, model)]  # read once, not again for the listing


def test_online_fetcher_keeps_nothing(tmp_path):
    config = PipelineConfig(cache_path=tmp_path / "etl.sqlite")
    sources = Sources(load_mappings(), config)
    fetcher = open_fetcher(config, sources, Store(tmp_path / "etl.sqlite"), offline=False)
    try:
        assert type(fetcher) is Fetcher  # extract always asks the cache (or the network) again
    finally:
        fetcher.close()
