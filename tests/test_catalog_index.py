"""etl/matching/catalogs.py keeps each catalog's index in the store: a later run uses it while the cached
responses, the code and the mappings are those it was built from, and builds it again otherwise."""

from __future__ import annotations

import shutil
import sqlite3
from datetime import timedelta
from pathlib import Path

import pytest

from etl import settings
from etl.declared.config import PipelineConfig
from etl.declared.mappings import load_mappings
from etl.http.fetch import open_session
from etl.matching import catalogs
from etl.pipeline import Pipeline
from etl.settings import mappings_dir


@pytest.fixture
def built(monkeypatch):
    """The names of the catalogs indexed from their responses (not taken from the store)."""
    names: list[str] = []
    real = catalogs.load_catalog

    def load_catalog(source, *args):
        names.append(source.name)
        return real(source, *args)

    monkeypatch.setattr(catalogs, "load_catalog", load_catalog)
    return names


def _staged(store: Path) -> list[tuple]:
    with sqlite3.connect(store) as db:
        return db.execute("SELECT * FROM staged ORDER BY model, section, field, rank").fetchall()


def _transform(example_config: Path, mappings: Path | None = None) -> Pipeline:
    overrides = {"offline": True, **({"mappings_dir": mappings} if mappings else {})}
    config = PipelineConfig.load(example_config, overrides)
    pipeline = Pipeline(config, load_mappings(mappings) if mappings else None)
    pipeline.transform()
    return pipeline


def test_a_second_run_uses_the_kept_indexes_and_stages_the_same_rows(example_config, built):
    first = _transform(example_config)
    catalog_names = sorted(n for n, s in first.sources.items() if s.scope == "catalog")
    assert sorted(built) == catalog_names  # indexed from the responses, and kept
    rows = _staged(first.config.cache_path)
    first.close()
    built.clear()
    second = _transform(example_config)
    assert built == []  # every index came from the store
    assert _staged(second.config.cache_path) == rows
    second.close()


def test_a_response_fetched_again_makes_its_catalog_indexed_again(example_config, built):
    first = _transform(example_config)
    keys = first.store.kept_index("openrouter", catalogs.index_version(first.resolved))[0]
    first.close()
    session = open_session(first.config.cache_path, 24, [])
    response = session.cache.get_response(keys[0])
    response.created_at += timedelta(seconds=1)  # what a re-fetch of the same body leaves
    session.cache.save_response(response, cache_key=keys[0])
    session.close()
    built.clear()
    second = _transform(example_config)
    assert built == ["openrouter"]  # indexed again from the responses, never the kept copy
    assert (
        second.store.responses_digest(keys)
        == second.store.kept_index("openrouter", catalogs.index_version(second.resolved))[1]
    )
    second.close()


def test_other_mappings_make_every_catalog_indexed_again(example_config, built, tmp_path):
    _transform(example_config).close()
    mappings = tmp_path / "mappings"
    shutil.copytree(mappings_dir(), mappings)
    names = mappings / "names.yaml"
    names.write_text("# a comment changes no rule\n" + names.read_text())
    built.clear()
    _transform(example_config, mappings).close()
    assert built == []  # the resolved identities are the same: the kept indexes hold
    names.write_text(names.read_text().replace("developers:\n", "developers:\n  acme-test-org: [acme]\n", 1))
    built.clear()
    _transform(example_config, mappings).close()
    catalog_names = sorted(n for n, s in load_mappings(mappings).sources.items() if s.scope == "catalog")
    assert sorted(built) == [n for n in catalog_names if n in built] and len(built) >= 10  # a new developer: all again


def test_the_code_an_index_depends_on_is_every_module_of_the_package(tmp_path, monkeypatch, request):
    """A change to any module, in any of etl/'s packages (the HTTP layer parses what is indexed),
    makes every kept index stale; the path inside the package counts, so a module moved is a change."""
    package = Path(catalogs.__file__).parent.parent
    copy = tmp_path / "etl"
    shutil.copytree(package, copy, ignore=shutil.ignore_patterns("__pycache__"))
    monkeypatch.setattr(catalogs, "__file__", str(copy / "matching" / "catalogs.py"))
    request.addfinalizer(catalogs._code_digest.cache_clear)  # later tests digest the real package

    def digest() -> str:
        catalogs._code_digest.cache_clear()
        return catalogs._code_digest()

    first = digest()
    assert digest() == first  # the same code, the same digest
    formats = copy / "http" / "formats.py"
    formats.write_text(formats.read_text() + "\n# one more line\n")
    edited = digest()
    assert edited != first
    (copy / "http" / "formats.py").rename(copy / "declared" / "formats.py")  # the same bytes, moved
    assert digest() not in (first, edited)


def test_an_index_that_does_not_load_is_built_again(example_config, built):
    first = _transform(example_config)
    version = catalogs.index_version(first.resolved)
    first.close()
    with sqlite3.connect(first.config.cache_path) as db:
        db.execute("UPDATE catalog_indexes SET value = ? WHERE source = 'lmarena'", [b"not a pickle"])
    built.clear()
    second = _transform(example_config)
    assert built == ["lmarena"]
    assert second.store.kept_index("lmarena", version)[2] != b"not a pickle"  # and kept again
    second.close()


def test_a_catalog_over_the_size_bound_is_not_kept(example_config, built, monkeypatch):
    """Its pickle would cost more memory than indexing it again costs time (a hostile 31 MiB body)."""
    monkeypatch.setattr(settings, "KEPT_INDEX_MAX_BYTES", 50_000)  # the example's OpenRouter catalog: ~330 KB
    first = _transform(example_config)
    with sqlite3.connect(first.config.cache_path) as db:
        kept = {name for (name,) in db.execute("SELECT source FROM catalog_indexes")}
    first.close()
    assert "openrouter" not in kept and "aider" in kept
    built.clear()
    _transform(example_config).close()
    assert "openrouter" in built and "aider" not in built


def test_a_catalog_whose_companion_is_missing_is_not_kept(example_config, built):
    """LiveBench without its categories companion still matches, and its miss is reported; kept,
    its index would hide the miss and keep the empty companion once the response is cached."""
    first = _transform(example_config)  # records each URL's cache key
    key = first.store.cache_keys()["https://livebench.ai/categories_2026_01_08.json"]
    with sqlite3.connect(first.config.cache_path) as db:
        db.execute("DELETE FROM responses WHERE key = ?", [key])
    first.transform()
    assert [m.url for m in first.last_missing] == ["https://livebench.ai/categories_2026_01_08.json"]
    first.close()
    built.clear()
    second = _transform(example_config)
    assert "livebench" in built  # indexed again, so its miss is seen again
    assert [m.url for m in second.last_missing] == ["https://livebench.ai/categories_2026_01_08.json"]
    second.close()
