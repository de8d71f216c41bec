"""`etl mappings check` refuses alias bombs and regexes that backtrack exponentially."""

from __future__ import annotations

import shutil
import time

import pytest
from helpers import cli, errors

from etl.settings import mappings_dir


def billion_laughs(levels: int = 9) -> str:
    """The classic: each level lists the one before nine times (9**9 strings from ~300 bytes)."""
    lines = ['l0: &l0 ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    lines += [f"l{i}: &l{i} [" + ", ".join([f"*l{i - 1}"] * 9) + "]" for i in range(1, levels)]
    return "\n".join(lines) + "\n"


def test_a_yaml_alias_bomb_in_a_mapping_file_is_refused_by_mappings_check(tmp_path):
    folder = tmp_path / "mappings"
    shutil.copytree(mappings_dir(), folder)
    (folder / "bomb.yaml").write_text("section: model_specs\n" + billion_laughs())
    started = time.monotonic()
    result = cli("mappings", "check", str(folder))
    assert time.monotonic() - started < 5
    assert result.exit_code == 2
    assert errors(result) == [
        f"error: {folder / 'bomb.yaml'}: line 1: aliases expand the document to 490,329,066 nodes (more than "
        "10,000 beyond those written); write the values out or use fewer aliases"
    ]


@pytest.mark.parametrize(
    ("place", "declaration"),
    [
        ("identity.strip", None),
        ("where[0]", "where: [{path: $.model, matches: '(a+)+$'}]"),
        ("derivative.matches", "derivative: {path: '$.tags[*]', matches: '(.*)*x'}"),
    ],
)
def test_a_regex_that_can_backtrack_exponentially_is_refused_by_mappings_check(tmp_path, place, declaration):
    folder = tmp_path / "mappings"
    shutil.copytree(mappings_dir(), folder)
    file = folder / "wildbench.yaml"
    text = file.read_text()
    if declaration is None:
        assert 'strip: "@[a-z-]+$"' in text
        text = text.replace('strip: "@[a-z-]+$"', "strip: '^(\\w+\\s?)+@'")
    else:
        text = text.replace('    records: "$"\n', f'    records: "$"\n    {declaration}\n')
    file.write_text(text)
    result = cli("mappings", "check", str(folder))
    assert result.exit_code == 2
    (line,) = errors(result)
    assert line.startswith(f"error: {file}: sources.wildbench.{place}: regex '")
    assert line.endswith(
        "nests a repeat inside a repeat: it can take exponential time on a long name; drop the inner repeat "
        "(e.g. '(a+)+' -> 'a+') or make it possessive ('a++')"
    )
