"""Local faults (issue 12, items 7, 13, 14, 15, 17): hostile YAML, a broken store, unwritable
outputs, absurd nesting and numbers, Unicode names. Each is one line naming the file, the place
and the fix, with its exit code, and never a traceback (``cli`` fails on one).

Read-only cases: the tests run as root, which ignores file modes, so a read-only file or folder
is made with ``chattr +i`` (immutable: refused even to root); where the filesystem has no such
attribute the test is skipped and says so. Disk full is SQLite's own SQLITE_FULL, raised by
capping the store's page count (``PRAGMA max_page_count``) once it is open.
"""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import subprocess
import time
import tracemalloc
import unicodedata
from contextlib import contextmanager
from pathlib import Path

import pytest
import yaml
from helpers import cli, config_dict

from etl import store as store_module
from etl.files import MAX_DEPTH
from etl.load import Loader
from etl.settings import mappings_dir

FIX = "move it aside (keep it: it holds the load history) and re-run, or run with --cache-path elsewhere"


def errors(result) -> list[str]:
    return [line for line in result.output.splitlines() if line.startswith("error: ")]


def billion_laughs(levels: int = 9) -> str:
    """The classic: each level lists the one before nine times (9**9 strings from ~300 bytes)."""
    lines = ['l0: &l0 ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    lines += [f"l{i}: &l{i} [" + ", ".join([f"*l{i - 1}"] * 9) + "]" for i in range(1, levels)]
    return "\n".join(lines) + "\n"


@contextmanager
def immutable(path: Path):
    """``path`` read-only even for root (chattr +i), or the test is skipped."""
    try:
        subprocess.run(["chattr", "+i", str(path)], check=True, capture_output=True)
    except (OSError, subprocess.CalledProcessError) as exc:
        pytest.skip(f"cannot make a file read-only for root here (chattr +i: {exc}); root ignores file modes")
    try:
        yield
    finally:
        subprocess.run(["chattr", "-i", str(path)], check=False, capture_output=True)


# ----- 7: YAML bombs, duplicate keys, echoed values, catastrophic regexes ------------------------
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
        "rate_limit_hf, require_scoreable, retry_backoff_factor, sources, template_path, timeout, values_file"
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


def test_a_duplicate_key_in_a_values_file_is_an_error(workdir):
    (workdir / "values.yaml").write_text(
        "models:\n  a:\n    input_price: {value: 1, source: x}\n    input_price: {value: 2, source: y}\n"
    )
    (workdir / "c.yaml").write_text(
        "models: [a]\nvalues_file: values.yaml\ntemplate_path: templates/template.json\ncache_path: s.db\n"
    )
    result = cli("run", "-c", "c.yaml", "--offline")
    assert result.exit_code == 2
    assert errors(result) == [
        f"error: {workdir / 'values.yaml'}: line 4: duplicate key 'input_price' (first on line 3); keep one"
    ]


def test_a_duplicate_key_in_a_json_template_is_an_error(workdir):
    (workdir / "t.json").write_text('{\n  "model_specs": {"input_price": null},\n  "model_specs": {}\n}\n')
    (workdir / "c.yaml").write_text("models: [a]\ntemplate_path: t.json\ncache_path: s.db\n")
    result = cli("run", "-c", "c.yaml", "--offline")
    assert result.exit_code == 2
    assert errors(result) == [f"error: {workdir / 't.json'}: line 3: duplicate key 'model_specs'; keep one"]


def test_echoed_values_are_cut_to_200_characters(workdir):
    (workdir / "c.yaml").write_text(
        yaml.safe_dump({"models": ["a"], "log_level": "x" * 100_000, "timeout": "y" * 100_000, "z" * 5000: 1})
    )
    result = cli("run", "-c", "c.yaml", "--offline")
    assert result.exit_code == 2
    lines = errors(result)
    assert len(lines) == 3
    assert all(len(line) < 1200 for line in lines)
    assert lines[1] == (
        "error: c.yaml: log_level: '"
        + "x" * 196
        + "... (100002 chars) is not allowed: valid: DEBUG, ERROR, INFO, WARNING"
    )
    assert lines[2] == "error: c.yaml: timeout: expected number, got str '" + "y" * 196 + "... (100002 chars)"


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


# ----- 13: the store ----------------------------------------------------------------------------
def _damage(path: Path, how: str, good: Path) -> None:
    data = good.read_bytes()
    if how == "garbage":
        path.write_bytes(b"not a database at all " * 100)
    elif how == "truncated":
        path.write_bytes(data[: len(data) // 3])
    elif how == "garbage page":
        path.write_bytes(data[:8192] + b"\xff" * 4096 + data[12288:])
    elif how == "a folder":
        path.mkdir()


@pytest.mark.parametrize(
    ("how", "said"),
    [
        ("garbage", "not a valid SQLite store (file is not a database); " + FIX),
        ("truncated", "not a valid SQLite store (database disk image is malformed); " + FIX),
        (
            "garbage page",
            "the store is damaged (*** in database main *** Page 3: btreeInitPage() returns error code 11); " + FIX,
        ),
        ("a folder", "is a folder, not a store file; remove it, or run with --cache-path elsewhere"),
    ],
)
def test_a_damaged_store_is_one_line_naming_the_file_and_the_fix_for_run_and_cache_import(
    example_config, warm_store, how, said
):
    bad = example_config.parent / "bad.sqlite"
    _damage(bad, how, warm_store)
    result = cli("run", "-c", str(example_config), "--offline", "--cache-path", str(bad))
    assert result.exit_code == 2
    assert errors(result) == [f"error: {bad}: {said}"]
    cassette = next(Path(__file__).resolve().parent.parent.glob("cassettes/*.yaml"))
    result = cli("cache", "import", str(cassette), "--cache-path", str(bad))
    assert result.exit_code == 2
    assert errors(result) == [f"error: {bad}: {said}"]


def test_a_read_only_store_file_is_refused_before_the_run(example_config):
    store = example_config.parent / "etl.sqlite"
    with immutable(store):
        result = cli("run", "-c", str(example_config), "--offline")
    assert result.exit_code == 2
    assert errors(result) == [
        f"error: {store}: the store (or its folder) is read-only; make it writable, or run with --cache-path elsewhere"
    ]


def test_a_store_in_a_read_only_folder_is_refused_before_the_run(example_config, warm_store):
    folder = example_config.parent / "ro"
    folder.mkdir()
    shutil.copy(warm_store, folder / "etl.sqlite")
    with immutable(folder):
        result = cli("run", "-c", str(example_config), "--offline", "--cache-path", str(folder / "etl.sqlite"))
    assert result.exit_code == 2
    assert errors(result) == [
        f"error: {folder / 'etl.sqlite'}: cannot open the store (is its folder read-only, or is it a folder?); {FIX}"
    ]


def test_a_store_path_under_a_file_is_refused(example_config):
    (example_config.parent / "f").write_text("x")
    result = cli("run", "-c", str(example_config), "--offline", "--cache-path", "f/etl.sqlite")
    assert result.exit_code == 2
    assert errors(result) == ["error: f/etl.sqlite: f is a file, not a folder; run with --cache-path elsewhere"]


def test_a_full_disk_mid_run_is_one_line_and_exit_1(example_config, monkeypatch):
    opened = store_module.open_checked

    def capped(path):
        db = opened(path)
        pages = db.execute("PRAGMA page_count").fetchone()[0]
        db.execute(f"PRAGMA max_page_count = {pages}")  # SQLite's own SQLITE_FULL once the file would grow
        return db

    monkeypatch.setattr(store_module, "open_checked", capped)
    store = example_config.parent / "etl.sqlite"
    sqlite3.connect(store).execute("VACUUM").close()  # no free pages left to fill
    result = cli("run", "-c", str(example_config), "--offline")
    assert result.exit_code == 1
    assert errors(result) == [
        f"error: {store}: the disk is full; free some space (or run with --cache-path on another disk) and re-run"
    ]


def test_a_store_deleted_mid_run_is_one_line_and_exit_1(example_config, monkeypatch):
    store = example_config.parent / "etl.sqlite"
    checked = Loader.check_targets

    def then_delete(self, models):
        checked(self, models)
        store.unlink()  # after the store was opened and checked: as a user's `rm` mid-run

    monkeypatch.setattr(Loader, "check_targets", then_delete)
    result = cli("run", "-c", str(example_config), "--offline")
    assert result.exit_code == 1
    assert errors(result) == [
        f"error: {store}: the store was deleted or replaced during the run; re-run, or run with --cache-path elsewhere"
    ]


# ----- 14: outputs ------------------------------------------------------------------------------
def _offline_config(workdir: Path, replay, **extra) -> Path:
    data = config_dict(replay, only=["openrouter"], models=["Claude 3.5 Haiku"], **extra)
    (workdir / "c.yaml").write_text(yaml.safe_dump(data, allow_unicode=True))
    return workdir / "c.yaml"


def test_an_output_folder_that_is_a_file_is_refused_before_any_request(workdir, replay):
    (workdir / "out").write_text("a file")
    result = cli("run", "-c", str(_offline_config(workdir, replay)))
    assert result.exit_code == 2
    assert errors(result) == [
        f"error: {workdir / 'out'}: {workdir / 'out'} is a file, not a folder; choose another --output-dir "
        "(or output_dir in the config)"
    ]
    assert replay.count() == 0


def test_an_output_folder_that_is_not_writable_is_refused_before_any_request(workdir, replay):
    (workdir / "out").mkdir()
    with immutable(workdir / "out"):
        result = cli("run", "-c", str(_offline_config(workdir, replay)))
    assert result.exit_code == 2
    assert errors(result) == [
        f"error: {workdir / 'out'}: cannot write in the output folder (Operation not permitted); make it "
        "writable, or choose another --output-dir (or output_dir in the config)"
    ]
    assert replay.count() == 0


def test_model_names_too_long_for_the_filesystem_are_refused_with_the_limit(workdir, replay):
    limit = os.pathconf(workdir, "PC_NAME_MAX")
    latin, cjk = "a" * 300, "模" * 90  # 300 bytes; 270 bytes in UTF-8
    config = _offline_config(workdir, replay)
    data = yaml.safe_load(config.read_text())
    data["models"] = [latin, cjk, "fits"]
    config.write_text(yaml.safe_dump(data, allow_unicode=True))
    result = cli("run", "-c", str(config))
    assert result.exit_code == 2
    out = workdir / "out"
    assert errors(result) == [
        f"error: {out}: model '{'a' * 76}... (302 chars): its file name is too long for this filesystem (its temp "
        f"file needs {300 + 7 + 14} bytes, the limit is {limit}); shorten the name by {300 + 21 - limit} byte(s) "
        "or more (in UTF-8 an accented or CJK character takes 2-3)",
        f"error: {out}: model '{'模' * 76}... (92 chars): its file name is too long for this filesystem (its temp "
        f"file needs {270 + 21} bytes, the limit is {limit}); shorten the name by {270 + 21 - limit} byte(s) "
        "or more (in UTF-8 an accented or CJK character takes 2-3)",
    ]
    assert replay.count() == 0


def test_stale_temp_files_of_a_killed_run_are_removed_at_start(example_config):
    out = example_config.parent / "out"
    out.mkdir()
    stale = [out / ".DeepSeek V3_filled.k2j3h4g5.tmp", out / ".ATTRIBUTION.abcd1234.tmp"]
    fresh = out / ".Claude 3.5 Haiku_filled.zzzz9999.tmp"  # a live run's: renamed in a moment
    foreign = out / ".notes.abcd1234.tmp"  # not ours
    for path in [*stale, fresh, foreign]:
        path.write_text("{half a fi")
    old = time.time() - 3600
    for path in [*stale, foreign]:
        os.utime(path, (old, old))
    result = cli("run", "-c", str(example_config), "--offline")
    assert result.exit_code in (0, 1)
    assert [p.exists() for p in stale] == [False, False]
    assert fresh.exists() and foreign.exists()


# ----- 15: nesting and numbers -------------------------------------------------------------------
@pytest.mark.parametrize("depth", [100_000, 900, MAX_DEPTH + 1])
def test_a_template_nested_beyond_the_bound_is_refused_in_one_line(workdir, depth):
    said = f"nested more than {MAX_DEPTH} levels deep; flatten the file"
    template = json.loads((workdir / "templates" / "template.json").read_text())
    template["extra"] = json.loads("[" * (depth - 1) + "]" * (depth - 1)) if depth < 1000 else None
    text = json.dumps(template)
    if depth >= 1000:
        text = text.replace('"extra": null', '"extra": ' + "[" * depth + "]" * depth)
    (workdir / "templates" / "template.json").write_text(text)
    (workdir / "c.yaml").write_text("models: [a]\ntemplate_path: templates/template.json\ncache_path: s.db\n")
    result = cli("run", "-c", "c.yaml", "--offline")
    assert result.exit_code == 2
    assert errors(result) == [f"error: {workdir / 'templates' / 'template.json'}: (top level): {said}"]


def test_a_template_nested_exactly_to_the_bound_is_read(workdir):
    template = json.loads((workdir / "templates" / "template.json").read_text())
    template["extra"] = json.loads("[" * (MAX_DEPTH - 1) + "]" * (MAX_DEPTH - 1))
    (workdir / "templates" / "template.json").write_text(json.dumps(template))
    (workdir / "c.yaml").write_text("models: [a]\ntemplate_path: templates/template.json\ncache_path: s.db\n")
    result = cli("run", "-c", "c.yaml", "--offline")
    assert "levels deep" not in result.output
    assert result.exit_code == 3  # it got past the templates, to the empty cache


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


def test_nan_and_infinity_in_the_config_are_refused_once_per_place(workdir):
    (workdir / "c.yaml").write_text(
        "models: [a]\ntimeout: .nan\ncache_ttl_hours: .inf\nretry_backoff_factor: -.inf\n"
        "max_retries: 1000\nsources: {openrouter: {rate_limit: .nan, deadline: .inf}}\n"
    )
    result = cli("run", "-c", "c.yaml", "--offline")
    assert result.exit_code == 2
    assert errors(result) == [
        "error: c.yaml: cache_ttl_hours: inf is not a finite number; give a number",
        "error: c.yaml: retry_backoff_factor: -inf is not a finite number; give a number",
        "error: c.yaml: sources.openrouter.deadline: inf is not a finite number; give a number",
        "error: c.yaml: sources.openrouter.rate_limit: nan is not a finite number; give a number",
        "error: c.yaml: timeout: nan is not a finite number; give a number",
        "error: c.yaml: max_retries: 1000 is above the maximum of 100",
    ]


@pytest.mark.parametrize("flag", ["--timeout", "--rate-limit-aa", "--rate-limit-hf", "--max-retries"])
def test_absurd_numbers_on_the_command_line_are_refused(workdir, flag):
    for value in ("inf", "1e400", "100000000"):
        result = cli("run", "--models", '["a"]', "--offline", flag, value)
        assert result.exit_code == 2, (flag, value)
        assert f"Invalid value for '{flag}'" in result.output


# ----- 17: Unicode names ------------------------------------------------------------------------
def test_nfc_and_nfd_forms_of_one_name_are_one_model(workdir):
    nfc, nfd = unicodedata.normalize("NFC", "Modèle Été"), unicodedata.normalize("NFD", "Modèle Été")
    assert nfc != nfd
    (workdir / "c.yaml").write_text(yaml.safe_dump({"models": [nfc, nfd]}, allow_unicode=True))
    result = cli("run", "-c", "c.yaml", "--offline")
    assert result.exit_code == 2
    assert errors(result) == [
        "error: c.yaml: models[1].name: 'Modèle Été' is listed twice (in another Unicode form); keep one"
    ]
    folder = workdir / "models"
    folder.mkdir()
    for i, name in enumerate((nfc, nfd)):
        (folder / f"m{i}.json").write_text(json.dumps({"model_specs": {"model_name": name}}))
    result = cli("run", "--input-dir", str(folder), "--offline")
    assert result.exit_code == 2
    assert errors(result) == [
        f"error: {folder / 'm1.json'}: model name 'Modèle Été' is also the name of another file's model "
        "('Modèle Été'): both would write one file; rename one"
    ]


@pytest.mark.parametrize(("char", "code"), [("\n", "000A"), ("\x7f", "007F"), ("\u202e", "202E"), ("\x9b", "009B")])
def test_control_characters_in_model_names_are_refused(workdir, char, code):
    (workdir / "c.yaml").write_text(json.dumps({"models": [f"GLM{char}4.6"]}))
    result = cli("run", "-c", "c.yaml", "--offline")
    assert result.exit_code == 2
    assert errors(result) == [
        f"error: c.yaml: models[0].name: model name {f'GLM{char}4.6'!r} contains a control character (U+{code} "
        "at position 4); remove it"
    ]
