"""What reaches the terminal: upstream text (error bodies, entry ids) never carries a control
character (escape sequences move the cursor, set the title, clear the screen), and the recap's
count of source failures is the number of failures it prints."""

from __future__ import annotations

import logging

import pytest
import typer
import yaml
from helpers import cli, config_dict

from etl.cli.terminal import errors_to_exit, recap, setup_logging
from etl.errors import UsageError, printable
from etl.results.outcomes import Failure, ModelResult, ModelStatus

HOSTILE = "boom \x1b]0;pwned\x07\x1b[2J\x1b[1;1H done"
SHOWN = "boom \\x1b]0;pwned\\x07\\x1b[2J\\x1b[1;1H done"


def test_an_upstream_error_with_escape_sequences_is_printed_escaped(workdir, server):
    server.route("/api/v1/models", 500, {"error": HOSTILE})
    model = {"name": "M", "hf_id": "org/m"}
    (workdir / "c.yaml").write_text(yaml.safe_dump(config_dict(server, ["openrouter"], models=[model])))
    result = cli("run", "-c", "c.yaml")
    assert result.exit_code == 1, result.output
    assert "\x1b" not in result.output and "\x07" not in result.output
    lines = result.output.splitlines()
    assert "1 written, 0 unchanged, 0 failed; 0/4 fields filled; 1 source failure(s); 0/1 scoreable" in lines
    assert lines[-1] == (
        f"source failure: openrouter: HTTP 500 from {server.url}/api/v1/models: {SHOWN}; gave up after 1 attempts"
    )
    assert f"openrouter: HTTP 500 from {server.url}/api/v1/models: {SHOWN} (attempt 1 of 1)" in lines  # the log


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        ("plain, é, 模型, emoji 🙂", "plain, é, 模型, emoji 🙂"),
        ("a\nb\rc\td", "a\\nb\\rc\\td"),
        ("x\x85y\u2028z\u2029", "x\\x85y\\u2028z\\u2029"),
        ("evil\u202egnp.exe", "evil\\u202egnp.exe"),
        ("\x00\x7f\x9b", "\\x00\\x7f\\x9b"),
    ],
)
def test_printable_escapes_control_characters_and_keeps_the_rest(text, shown):
    assert printable(text) == shown


def test_log_lines_and_error_lines_are_printable(capsys):
    setup_logging("INFO", [])
    logging.getLogger("etl").warning("from upstream: %s", HOSTILE)
    with pytest.raises(typer.Exit):
        with errors_to_exit():
            raise UsageError(f"x.yaml: line 1: {HOSTILE}; fix it")
    err = capsys.readouterr().err
    assert err == f"from upstream: {SHOWN}\nerror: x.yaml: line 1: {SHOWN}; fix it\n"


def test_the_recap_counts_the_source_failures_it_prints(capsys):
    """A failure of the run (a catalog, a stale source's refresh) is in no model's 'failed' list."""
    results = [ModelResult("M", ModelStatus.WRITTEN, output="out/M.json", sources={"matched": ["aider"]})]
    recap(results, [Failure("openrouter", "HTTP 500 from http://x/api/v1/models: down")])
    out = capsys.readouterr()
    assert (
        out.out.splitlines()[-1]
        == "1 written, 0 unchanged, 0 failed; 0/0 fields filled; 1 source failure(s); 0/1 scoreable"
    )
    assert out.err == "source failure: openrouter: HTTP 500 from http://x/api/v1/models: down\n"
