"""What the stages report: progress as they go, failures as objects, and one result per model.

Kept apart from the stages so that extract, transform and load share the vocabulary without
importing one another, and apart from the terminal so that no stage imports presentation.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from ..errors import ExitCode
from .consumer import Verdict

log = logging.getLogger("etl")


class ModelStatus(StrEnum):
    WRITTEN = "written"
    UNCHANGED = "unchanged"  # the file already says exactly this: not touched (same bytes, same mtime)
    INVALID = "invalid"  # the merged file breaks the model schema: not written
    FAILED = "failed"  # a broken template, or a model never transformed


class Reason(StrEnum):
    """Why a (model, source) pair has no entry, where a report must tell the cases apart."""

    NO_KEY = "no key"  # the source needs a key and none was given
    NOT_CACHED = "not cached"  # an offline run, and the cache lacks the response (`etl cache missing`)
    NOT_FETCHED = "not fetched"
    PINNED_FALSE = "pinned false"
    NO_JOIN_KEY = "no join key"  # a per-model URL needs a value the model lacks (hf_id)


class FetchOutcome(StrEnum):
    """The last answer to a URL, as the ``fetches`` table keeps it (etl/http/fetch.py writes it, cassette
    import too; an offline run reads it to tell a remembered 404 or failure from a cache miss)."""

    OK = "ok"
    NOT_FOUND = "not_found"  # a status the source declares 'not found': remembered for the TTL
    FAILED = "failed"


@dataclass(frozen=True)
class Missing:
    """A response an offline run needed and the cache lacks; ``models``: who waits for it."""

    source: str
    url: str
    models: tuple[str, ...] = ()

    def as_dict(self) -> dict[str, Any]:
        return {"source": self.source, "url": self.url, "models": list(self.models)}


@dataclass(frozen=True)
class Failure:
    """A source that failed, for one model or for the run. Two failures with the same source and
    URL are the same failure (a catalog failure touches every model: it is reported once)."""

    source: str
    message: str
    url: str | None = None

    @property
    def key(self) -> tuple[str, str]:
        return (self.source, self.url or self.message)

    def __str__(self) -> str:
        return self.message if self.message.startswith(f"{self.source}: ") else f"{self.source}: {self.message}"


def unique(failures: list[Failure]) -> list[Failure]:
    """Each failure once, the first wording kept (a live failure before its offline re-reading)."""
    return list({f.key: f for f in reversed(failures)}.values())[::-1]


#: a model whose file is as it should be: written now, or already so
SAVED = (ModelStatus.WRITTEN, ModelStatus.UNCHANGED)


def exit_code(
    results: list[ModelResult],
    failures: list[Failure],
    require_scoreable: bool = False,
    missing: list[Missing] | None = None,
) -> ExitCode:
    """The one policy: FAILED when a model or a source failed (or, when asked, a saved file is
    one the consumer rejects); else INCOMPLETE when the cache lacked responses (every other file
    was written); else OK."""
    if failures or any(r.status not in SAVED for r in results):
        return ExitCode.FAILED
    if require_scoreable and any(r.verdict and not r.verdict.scoreable for r in results):
        return ExitCode.FAILED
    if missing or any(r.not_cached for r in results):
        return ExitCode.INCOMPLETE
    return ExitCode.OK


def all_failures(results: list[ModelResult], extract: ExtractReport | None) -> list[Failure]:
    """Every failure of a run once: extract's live ones first, then what the models report."""
    return unique([*(extract.failures if extract else []), *(f for r in results for f in r.failures)])


@dataclass
class ExtractReport:
    sent: int = 0
    failures: list[Failure] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)  # "<source>: skipped, no key (set VAR)"


@dataclass
class ModelResult:
    model: str
    status: ModelStatus
    output: str | None = None
    filled: int = 0
    fillable: int = 0
    sources: dict[str, list[str]] = field(default_factory=dict)  # match status -> source names
    error: str | None = None
    failures: list[Failure] = field(default_factory=list)  # why each failed source failed
    conflicts: list[str] = field(default_factory=list)  # fields whose sources disagree (first wins)
    verdict: Verdict | None = None  # what the consumer will do with the written file
    kept: list[str] = field(default_factory=list)  # fields no source gives now, kept from the last load
    removed: list[str] = field(default_factory=list)  # fields dropped with allow_removals
    not_cached: list[str] = field(default_factory=list)  # URLs an offline run lacked for this model

    @property
    def saved(self) -> bool:
        return self.status in SAVED

    def as_dict(self) -> dict[str, Any]:
        return {
            "model": self.model,
            "status": str(self.status),
            "output": self.output,
            "coverage": {
                "filled": self.filled,
                "fillable": self.fillable,
                "sources": self.sources,
                "conflicts": self.conflicts,
            },
            "error": self.error,
            "verdict": None if self.verdict is None else self.verdict.as_dict(),
            "kept": self.kept,
            "removed": self.removed,
            "not_cached": self.not_cached,
        }


class Progress:
    """Where the stages report progress; this default logs a line now and then. The CLI swaps in
    a progress bar on a terminal. Called from the extract threads: implementations must be
    thread-safe."""

    def __init__(self) -> None:
        self._totals: dict[str, tuple[int, int | None]] = {}

    def start(self, task: str, total: int | None) -> None:
        self._totals[task] = (0, total)

    def advance(self, task: str) -> None:
        done, total = self._totals.get(task, (0, None))
        self._totals[task] = (done + 1, total)
        if total and total >= 50 and ((done + 1) % (total // 10) == 0 or done + 1 == total):
            log.info("%s: %d/%d", task, done + 1, total)

    def note(self, task: str, text: str) -> None:
        log.info("%s: %s", task, text)

    def done(self, task: str, text: str = "") -> None:
        if text:
            log.info("%s: %s", task, text)
