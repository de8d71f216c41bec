"""What users look at: the coverage matrix (table, JSON, CSV, one self-contained HTML page) and the
diff since the previous load.

Everything here formats what etl/results/coverage.py builds (the Python API returns the same data); nothing
reads the store or fetches.
"""

from __future__ import annotations

import csv
import html
import io
import json
from dataclasses import asdict
from typing import Any

from ..errors import printable
from ..results.coverage import Coverage

COLOURS = {
    "filled": "#2e7d32",
    "manual": "#1565c0",
    "conflict": "#f9a825",
    "ambiguous": "#c62828",
    "failed": "#6a1b9a",
    "not cached": "#8d6e63",
    "rejected": "#ad1457",
    "no key": "#ef6c00",
    "not published": "#90a4ae",
    "unmatched": "#b0bec5",
    "source off": "#cfd8dc",
    "no source": "#eceff1",
}


# ----- renderings -------------------------------------------------------------------------------
def as_json(coverage: Coverage) -> str:
    return json.dumps(
        {
            "fields": [f"{s}.{f}" for s, f in coverage.fields],
            "models": {
                m: {
                    "filled": coverage.totals(m)[0],
                    "fillable": coverage.totals(m)[1],
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
        filled, fillable = coverage.totals(model)
        counts: dict[str, int] = {}
        for cell in cells.values():
            counts[cell.status] = counts.get(cell.status, 0) + 1
        rest = ", ".join(f"{k} {v}" for k, v in counts.items() if k not in ("filled",))
        verdict = f"   [{coverage.verdict(model)}]" if model in coverage.verdicts else ""
        lines.append(f"{model:<{width}}  {filled:>3}/{fillable:<3} filled   {rest}{verdict}")
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
        filled, fillable = coverage.totals(model)
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
        mark = "" if found is None else ("thin" if found.thin else "yes" if found.scoreable else "no")
        rows.append(
            f'<tr><th class="m">{esc(model)}</th><td class="n" data-filled="{filled}" data-fillable="{fillable}">{filled}/{fillable}</td>'
            f'<td class="v" data-verdict="{esc(str(found.status) if found else "")}" title="{esc(why or coverage.verdict(model))}">{mark}</td>{"".join(tds)}</tr>'
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
td.v {{ padding: 0 8px; text-align: center; }} td.v[data-verdict="scoreable"] {{ color: #2e7d32; }} td.v[data-verdict="scoreable, thin"] {{ color: #ef6c00; }} td.v[data-verdict="not scoreable"] {{ color: #c62828; font-weight: 600; }}
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
