"""Coverage as data: the models x fields matrix from the store, each empty cell with why it is
empty, the pins to write, each model's verdict and (filled, fillable), and what blocks scoring
(`etl todo`). The Python API returns these (Pipeline.coverage, Pipeline.todo); etl/cli/report.py only
renders them.

Why a cell is empty, in the order a user can act on: ambiguous (write a pin), failed (re-run),
not cached (`etl extract`), rejected, no key (set it), not published for this model, unmatched,
source off, no source publishes the field at all.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ..declared.mappings import Mappings
from ..declared.rows import AMBIGUOUS
from ..declared.values import MANUAL_SOURCE
from .consumer import Verdict
from .outcomes import Reason

#: why a cell is empty, most actionable first (the first that applies is shown)
FILLED = ("filled", "manual", "conflict")
REASONS = (
    "ambiguous",
    "failed",
    "not cached",
    "rejected",
    "no key",
    "not published",
    "unmatched",
    "source off",
    "no source",
)


@dataclass
class Cell:
    status: str  # filled, manual (hand-entered), conflict, or one of REASONS
    value: Any = None
    source: str | None = None
    detail: str = ""


@dataclass
class Coverage:
    fields: list[tuple[str, str]]
    cells: dict[str, dict[str, Cell]]  # model -> "section.field" -> cell
    pins: dict[str, dict[str, list[dict[str, Any]]]] = field(default_factory=dict)  # model -> source -> candidates
    unmatched: dict[str, list[str]] = field(default_factory=dict)  # model -> sources
    verdicts: dict[str, Verdict] = field(default_factory=dict)  # model -> what the consumer does with it
    counts: dict[str, tuple[int, int]] = field(default_factory=dict)  # model -> (filled, fillable), as load counts

    def totals(self, model: str) -> tuple[int, int]:
        """(filled, fillable) by the load's one definition (Loader.count) when known."""
        if model in self.counts:
            return self.counts[model]
        cells = self.cells[model].values()
        return sum(c.status in FILLED for c in cells), sum(c.status not in ("no source", "source off") for c in cells)

    def verdict(self, model: str) -> str:
        found = self.verdicts.get(model)
        return "" if found is None else found.label


def build_coverage(
    mappings: Mappings,
    active: set[str],
    matches: dict[str, list[dict]],
    staged: dict[str, list[dict]],
    verdicts: dict[str, Verdict] | None = None,
    counts: dict[str, tuple[int, int]] | None = None,
) -> Coverage:
    fields = [(s, f) for s, f, _ in mappings.fields()]
    coverage = Coverage(fields=fields, cells={}, verdicts=verdicts or {}, counts=counts or {})
    for model, rows in matches.items():
        by_source = {r["source"]: r for r in rows}
        chosen = {(r["section"], r["field"]): r for r in staged.get(model, []) if r["chosen"]}
        refused = {(r["section"], r["field"]): r for r in staged.get(model, []) if r.get("rejected")}
        cells = {}
        for section, fname, cands in mappings.fields():
            hit = chosen.get((section, fname))
            if hit:
                status = (
                    "conflict" if hit.get("conflict") else ("manual" if hit["source"] == MANUAL_SOURCE else "filled")
                )
                cells[f"{section}.{fname}"] = Cell(status, hit["value"], hit["source"], hit["url"] or "")
                continue
            if (section, fname) in refused:
                row = refused[(section, fname)]
                status = "ambiguous" if row["rejected"].startswith(AMBIGUOUS) else "rejected"  # several rows
                cells[f"{section}.{fname}"] = Cell(status, detail=f"{status}: {row['source']}: {row['rejected']}")
                continue
            cells[f"{section}.{fname}"] = _why_empty(cands, by_source, active)
        coverage.cells[model] = cells
        for row in rows:
            if row["status"] == "ambiguous":
                coverage.pins.setdefault(model, {})[row["source"]] = row["candidates"]
            elif row["status"] == "unmatched":
                coverage.unmatched.setdefault(model, []).append(row["source"])
    return coverage


def _why_empty(cands: list, by_source: dict[str, dict], active: set[str]) -> Cell:
    if not cands:
        return Cell("no source", detail="no source publishes this field yet")
    found: dict[str, list[str]] = {}
    for cand in cands:
        row = by_source.get(cand.source)
        if cand.source not in active or row is None:
            found.setdefault("source off", []).append(cand.source)
        elif row["status"] == "matched":
            found.setdefault("not published", []).append(cand.source)
        elif row["status"] == "skipped" and row.get("reason") == Reason.NO_KEY:
            found.setdefault("no key", []).append(cand.source)
        elif row.get("reason") == Reason.NOT_CACHED:
            found.setdefault("not cached", []).append(cand.source)
        elif row["status"] == "skipped":
            found.setdefault("unmatched", []).append(cand.source)
        else:
            found.setdefault(row["status"], []).append(cand.source)
    reason = next(r for r in REASONS if r in found)
    return Cell(reason, detail=f"{reason}: {', '.join(dict.fromkeys(found[reason]))}")
