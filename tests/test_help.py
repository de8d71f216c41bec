"""`etl --help` reads as a table: each command's line wraps where the terminal ends, never at the
docstring's own line breaks."""

from __future__ import annotations

import inspect

import pytest
from helpers import cli

from etl.cli.cli import app


def _descriptions(output: str) -> dict[str, list[str]]:
    """Command -> the lines of its description in the Commands panel."""
    panel = output[output.index("─ Commands ") :].splitlines()[1:]
    rows: dict[str, list[str]] = {}
    current = ""
    for line in panel:
        if not line.startswith("│"):
            break
        name, text = line[1:].split(None, 1)[0] if line[2] != " " else "", line[1:-1]
        current = name or current
        rows.setdefault(current, []).append(text.strip() if not name else text.strip()[len(name) :].strip())
    return rows


@pytest.mark.parametrize("columns", ["80", "100", "140"])
def test_each_command_description_fills_its_lines(columns):
    result = cli("--help", env={"COLUMNS": columns, "TERM": "dumb"})
    assert result.exit_code == 0
    rows = _descriptions(result.output)
    assert {"run", "todo", "coverage", "match", "cache"} <= set(rows)
    width = max(len(line) for lines in rows.values() for line in lines)
    for name, lines in rows.items():
        for line, following in zip(lines, lines[1:], strict=False):
            # a line broken early leaves room for the next line's first word: that is the raggedness
            assert len(line) + 1 + len(following.split()[0]) > width, (name, lines)


def test_the_panel_shows_the_first_paragraph_of_each_docstring():
    result = cli("--help", env={"COLUMNS": "400"})
    rows = _descriptions(result.output)
    for info in app.registered_commands:
        first = " ".join(inspect.getdoc(info.callback).split("\n\n")[0].split())
        assert rows[info.callback.__name__] == [first]
