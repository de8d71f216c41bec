"""One function (`access.fetch_match`) says what a read that gave no document means for matching;
every stage and the catalog reader ask it, so a 404 or a cache miss means the same everywhere."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from etl.declared.config import PipelineConfig
from etl.declared.mappings import load_mappings
from etl.declared.sources import Sources
from etl.errors import SourceError
from etl.http.fetch import CacheMiss, NotInSource
from etl.matching.access import fetch_match
from etl.matching.matching import MatchStatus
from etl.results.outcomes import Reason

ETL = Path(__file__).resolve().parent.parent / "etl"


@pytest.fixture(scope="module")
def sources() -> Sources:
    return Sources(load_mappings(), PipelineConfig())


@pytest.mark.parametrize(
    "name, exc, status, reason",
    [
        ("huggingface", CacheMiss("huggingface", "https://x/api/models/a/b"), MatchStatus.SKIPPED, Reason.NOT_CACHED),
        ("openrouter", CacheMiss("openrouter", "https://x/models"), MatchStatus.SKIPPED, Reason.NOT_CACHED),
        ("huggingface", NotInSource("404 for a/b"), MatchStatus.UNMATCHED, None),
        ("openrouter", NotInSource("404 for the catalog"), MatchStatus.FAILED, None),
        ("huggingface", SourceError("huggingface", "HTTP 500", "https://x/y"), MatchStatus.FAILED, None),
        ("artificial_analysis", CacheMiss("artificial_analysis", "https://x/aa"), MatchStatus.SKIPPED, Reason.NO_KEY),
    ],
)
def test_what_each_fetch_outcome_means_for_a_match(sources, name, exc, status, reason):
    match = fetch_match(exc, sources.declared[name], sources)
    assert (match.status, match.reason) == (status, reason)
    if reason == Reason.NOT_CACHED:
        assert match.url == exc.url and match.note == f"not cached: {exc.url}"
    if isinstance(exc, SourceError):
        assert match.url == "https://x/y"


def test_no_other_module_turns_a_fetch_exception_into_a_match():
    """An `except` of CacheMiss, NotInSource or SourceError that builds a `Match` itself would be
    a second answer to the same question."""
    caught = {"CacheMiss", "NotInSource", "SourceError"}
    offenders = []
    for path in sorted(ETL.rglob("*.py")):
        if path.relative_to(ETL).as_posix() == "matching/access.py":
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if not isinstance(node, ast.ExceptHandler) or node.type is None:
                continue
            names = {n.id for n in ast.walk(node.type) if isinstance(n, ast.Name)}
            builds = any(
                isinstance(n, ast.Call) and isinstance(n.func, ast.Name) and n.func.id == "Match"
                for stmt in node.body
                for n in ast.walk(stmt)
            )
            if names & caught and builds:
                offenders.append(f"{path.relative_to(ETL).as_posix()}:{node.lineno}")
    assert offenders == []
