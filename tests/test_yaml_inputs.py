"""Malicious YAML (alias bombs, duplicate keys, deep nesting) is refused in one line; small anchors still load."""

from __future__ import annotations

import shutil
import time
import tracemalloc

import pytest
from helpers import cli, errors

from etl.declared.files import MAX_DEPTH
from etl.settings import mappings_dir


def billion_laughs(levels: int = 9) -> str:
    """The classic: each level lists the one before nine times (9**9 strings from ~300 bytes)."""
    lines = ['l0: &l0 ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    lines += [f"l{i}: &l{i} [" + ", ".join([f"*l{i - 1}"] * 9) + "]" for i in range(1, levels)]
    return "\n".join(lines) + "\n"


def test_a_yaml_alias_bomb_in_a_config_is_refused_in_one_line_without_expanding_it(workdir):
    bomb = billion_laughs()
    assert len(bomb) < 1024
    (workdir / "c.yaml").write_text("models: [a]\n" + bomb)
    tracemalloc.start()
    started = time.monotonic()
    try:
        result = cli("run", "-c", "c.yaml", "--offline")
    finally:
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    assert time.monotonic() - started < 5
    assert peak < 50_000_000  # bytes allocated by Python at the peak; a walk of the expansion needs GBs
    assert result.exit_code == 2
    assert errors(result) == [
        "error: c.yaml: line 1: aliases expand the document to 490,329,067 nodes (more than 10,000 beyond "
        "those written); write the values out or use fewer aliases"
    ]


def test_a_yaml_alias_that_contains_itself_is_refused(workdir):
    (workdir / "c.yaml").write_text("models: &m [a, *m]\n")
    result = cli("run", "-c", "c.yaml", "--offline")
    assert result.exit_code == 2
    assert errors(result) == [
        "error: c.yaml: line 1: an alias refers to the node that contains it (a cycle); remove the alias"
    ]


def test_yaml_anchors_that_expand_a_little_and_merge_keys_still_load(workdir):
    (workdir / "c.yaml").write_text(
        "template_path: templates/template.json\ncache_path: s.db\n"
        "x-common: &common {hf_id: org/model}\n"
        "models:\n  - {<<: *common, name: A}\n  - {<<: *common, name: B, hf_id: org/other}\n"
    )
    result = cli("run", "-c", "c.yaml", "--offline")
    assert errors(result) == [
        "error: c.yaml: (top level): unknown key 'x-common': valid: allow_removals, artificial_analysis_key, attribution_file, cache_path, "
        "cache_ttl_hours, consumer_schema, continue_on_error, huggingface_key, in_place, input_dir, log_level, "
        "max_retries, models, output_dir, output_name, overwrite, param_count_unit, pins_file, rate_limit_aa, "
        "rate_limit_hf, require_scoreable, retry_backoff_factor, sources, template_path, timeout, values_file, workers"
    ]  # the anchors and the merge keys loaded: only the schema objects to the helper key


@pytest.mark.parametrize(
    ("kind", "text", "line"),
    [
        ("config", "models: [a]\ntimeout: 3\nmodels: [b]\n", "line 3: duplicate key 'models' (first on line 1)"),
        ("pins", "GLM-4.6:\n  lmarena: x\n  lmarena: y\n", "line 3: duplicate key 'lmarena' (first on line 2)"),
        ("mapping", None, "line 6: duplicate key 'context_window' (first on line 5)"),
    ],
)
def test_duplicate_yaml_keys_are_an_error_naming_both_lines(workdir, kind, text, line):
    if kind == "config":
        (workdir / "c.yaml").write_text(text)
        result, file = cli("run", "-c", "c.yaml", "--offline"), "c.yaml"
    elif kind == "pins":
        (workdir / "pins.yaml").write_text(text)
        (workdir / "c.yaml").write_text("models: [GLM-4.6]\npins_file: pins.yaml\ncache_path: s.db\n")
        result, file = cli("run", "-c", "c.yaml", "--offline"), workdir / "pins.yaml"
    else:
        folder = workdir / "mappings"
        folder.mkdir()
        shutil.copy(mappings_dir() / "sources.yaml", folder)
        file = folder / "model_specs.yaml"
        file.write_text(
            "section: model_specs\nfields:\n  context_window:\n    - {source: openrouter, path: $.context_length}\n"
            "  context_window: []\n  context_window: []\n"
        )
        result = cli("mappings", "check", str(folder))
        line = "line 5: duplicate key 'context_window' (first on line 3)"
    assert result.exit_code == 2
    assert errors(result) == [f"error: {file}: {line}; keep one"]


def test_a_yaml_file_nested_beyond_the_bound_is_refused_in_one_line(workdir):
    (workdir / "c.yaml").write_text(
        "models: [a]\nsources:" + "".join(f"\n{'  ' * i}k{i}:" for i in range(1, 80)) + " 1\n"
    )
    result = cli("run", "-c", "c.yaml", "--offline")
    assert result.exit_code == 2
    assert errors(result) == [
        f"error: c.yaml: line {MAX_DEPTH + 2}: nested more than {MAX_DEPTH} levels deep; flatten the file"
    ]


def test_aliases_that_nest_deeper_than_the_bound_are_refused_though_each_is_shallow(workdir):
    chain = "x0: &x0 " + "[" * 40 + "1" + "]" * 40 + "\n"
    chain += "".join(f"x{i}: &x{i} " + "[" * 40 + f"*x{i - 1}" + "]" * 40 + "\n" for i in range(1, 30))
    (workdir / "c.yaml").write_text("models: [a]\n" + chain)
    result = cli("run", "-c", "c.yaml", "--offline")
    assert result.exit_code == 2
    (line,) = errors(result)
    assert line.startswith("error: c.yaml: line ")
    assert line.endswith(f": nested more than {MAX_DEPTH} levels deep; flatten the file")
