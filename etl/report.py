"""What users look at: the coverage matrix (table, JSON, CSV, one self-contained HTML page) and the
diff since the previous load.

Everything here reads the store; nothing fetches. Each empty cell says why it is empty, in the
order a user can act on: ambiguous (write a pin), failed (re-run), no key (set it), not published
for this model, unmatched, source off, no source publishes the field at all.
"""

from __future__ import annotations

import csv
import html
import io
import json
from dataclasses import asdict, dataclass, field
from typing import Any

from .consumer import Verdict
from .errors import printable
from .mappings import Mappings
from .outcomes import Reason
from .values import MANUAL_SOURCE

#: why a cell is empty, most actionable first (the first that applies is shown)
FILLED = ("filled", "manual", "conflict")
REASONS = ("ambiguous", "failed", "rejected", "no key", "not published", "unmatched", "source off", "no source")
COLOURS = {
    "filled": "#2e7d32",
    "manual": "#1565c0",
    "conflict": "#f9a825",
    "ambiguous": "#c62828",
    "failed": "#6a1b9a",
    "rejected": "#ad1457",
    "no key": "#ef6c00",
    "not published": "#90a4ae",
    "unmatched": "#b0bec5",
    "source off": "#cfd8dc",
    "no source": "#eceff1",
}


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

    def totals(self, model: str) -> tuple[int, int]:
        cells = self.cells[model].values()
        filled = sum(c.status in FILLED for c in cells)
        return filled, sum(c.status != "no source" for c in cells)

    def verdict(self, model: str) -> str:
        found = self.verdicts.get(model)
        return "" if found is None else str(found.status)


def build_coverage(
    mappings: Mappings,
    active: set[str],
    matches: dict[str, list[dict]],
    staged: dict[str, list[dict]],
    verdicts: dict[str, Verdict] | None = None,
) -> Coverage:
    fields = [(s, f) for s, f, _ in mappings.fields()]
    coverage = Coverage(fields=fields, cells={}, verdicts=verdicts or {})
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
                cells[f"{section}.{fname}"] = Cell("rejected", detail=f"rejected: {row['source']}: {row['rejected']}")
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
        elif row["status"] == "skipped":
            found.setdefault("unmatched", []).append(cand.source)
        else:
            found.setdefault(row["status"], []).append(cand.source)
    reason = next(r for r in REASONS if r in found)
    return Cell(reason, detail=f"{reason}: {', '.join(dict.fromkeys(found[reason]))}")


# ----- renderings -------------------------------------------------------------------------------
def as_json(coverage: Coverage) -> str:
    return json.dumps(
        {
            "fields": [f"{s}.{f}" for s, f in coverage.fields],
            "models": {
                m: {
                    "filled": coverage.totals(m)[0],
                    "published": coverage.totals(m)[1],
                    "verdict": coverage.verdicts[m].as_dict() if m in coverage.verdicts else None,
                    "cells": {k: asdict(c) for k, c in cells.items()},
                }
                for m, cells in coverage.cells.items()
            },
            "ambiguous": coverage.pins,
            "unmatched": coverage.unmatched,
        },
        indent=2,
        ensure_ascii=False,
    )


def as_csv(coverage: Coverage) -> str:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["model", "section", "field", "status", "value", "source", "detail", "verdict"])
    for model, cells in coverage.cells.items():
        for key, cell in cells.items():
            section, fname = key.split(".", 1)
            writer.writerow(
                [
                    model,
                    section,
                    fname,
                    cell.status,
                    "" if cell.value is None else cell.value,
                    cell.source or "",
                    cell.detail,
                    coverage.verdict(model),
                ]
            )
    return out.getvalue()


def as_table(coverage: Coverage) -> str:
    lines = []
    width = max([len(m) for m in coverage.cells] + [5])
    for model, cells in coverage.cells.items():
        filled, published = coverage.totals(model)
        counts: dict[str, int] = {}
        for cell in cells.values():
            counts[cell.status] = counts.get(cell.status, 0) + 1
        rest = ", ".join(f"{k} {v}" for k, v in counts.items() if k not in ("filled",))
        verdict = f"   [{coverage.verdict(model)}]" if model in coverage.verdicts else ""
        lines.append(f"{model:<{width}}  {filled:>3}/{published:<3} filled   {rest}{verdict}")
    lines += _pin_lines(coverage)
    return "\n".join(lines) + "\n"


def _pin_lines(coverage: Coverage) -> list[str]:
    lines = []
    for model, per_source in coverage.pins.items():
        for source, cands in per_source.items():
            ids = ", ".join(f"{c['id']} ({c['name']})" for c in cands)
            lines.append(
                printable(f"ambiguous: {model} in {source}: pin one with ids: {{{source}: <id>}}; candidates: {ids}")
            )
    for model, sources in coverage.unmatched.items():
        lines.append(f"unmatched: {model} in {', '.join(sources)} (pin an id if the name differs there)")
    return lines


def as_html(coverage: Coverage, title: str = "LLM benchmark coverage") -> str:
    """One self-contained page: a colour-coded matrix, the source (or the reason) on hover."""
    esc = html.escape
    head = "".join(f'<th class="f" title="{esc(s)}"><span>{esc(f)}</span></th>' for s, f in coverage.fields)
    rows = []
    for model, cells in coverage.cells.items():
        filled, published = coverage.totals(model)
        tds = []
        for s, f in coverage.fields:
            cell = cells[f"{s}.{f}"]
            shown = "" if cell.value is None else esc(str(cell.value))
            hover = f"{s}.{f}: " + (f"{cell.value} from {cell.source}" if cell.source else cell.detail)
            if cell.status == "conflict":
                hover += " (sources disagree; the first is kept)"
            tds.append(
                f'<td class="c" data-status="{esc(cell.status)}" title="{esc(hover)}" style="background:{COLOURS[cell.status]}">{shown}</td>'
            )
        found = coverage.verdicts.get(model)
        why = "; ".join(found.reasons) if found else "not loaded"
        mark = "" if found is None else ("yes" if found.scoreable else "no")
        rows.append(
            f'<tr><th class="m">{esc(model)}</th><td class="n" data-filled="{filled}" data-published="{published}">{filled}/{published}</td>'
            f'<td class="v" data-verdict="{esc(coverage.verdict(model))}" title="{esc(why or "scoreable")}">{mark}</td>{"".join(tds)}</tr>'
        )
    legend = "".join(f'<span class="k"><i style="background:{c}"></i>{esc(k)}</span>' for k, c in COLOURS.items())
    notes = "".join(f"<li>{esc(line)}</li>" for line in _pin_lines(coverage))
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{esc(title)}</title>
<style>
body {{ font: 13px system-ui, sans-serif; margin: 16px; color: #222; }}
table {{ border-collapse: collapse; }}
th.f {{ height: 140px; white-space: nowrap; vertical-align: bottom; }}
th.f span {{ display: inline-block; transform: rotate(-60deg); transform-origin: left bottom; width: 18px; }}
th.m {{ text-align: left; padding-right: 8px; white-space: nowrap; }}
td.c {{ width: 26px; height: 22px; border: 1px solid #fff; font-size: 9px; color: #fff; overflow: hidden; text-align: center; }}
td.n {{ padding: 0 8px; font-weight: 600; }}
td.v {{ padding: 0 8px; text-align: center; }} td.v[data-verdict="scoreable"] {{ color: #2e7d32; }} td.v[data-verdict="not scoreable"] {{ color: #c62828; font-weight: 600; }}
.k {{ margin-right: 12px; }} .k i {{ display: inline-block; width: 12px; height: 12px; margin-right: 4px; vertical-align: middle; }}
</style></head><body>
<h1>{esc(title)}</h1>
<p>{len(coverage.cells)} models x {len(coverage.fields)} fields. Hover a cell for its source or why it is empty.</p>
<p>{legend}</p>
<table><thead><tr><th></th><th>filled</th><th>scoreable</th>{head}</tr></thead><tbody>
{"".join(rows)}
</tbody></table>
<ul>{notes}</ul>
</body></html>
"""


# ----- diff ------------------------------------------------------------------------------------
def diff_lines(changes: list[dict[str, Any]]) -> list[str]:
    out = []
    for c in changes:
        old = "null" if c["old"] is None else json.dumps(c["old"])
        new = "null" if c["new"] is None else json.dumps(c["new"])
        out.append(f"{c['model']}: {c['field']}: {old} -> {new} ({c['source'] or 'no source'})")
    return out
