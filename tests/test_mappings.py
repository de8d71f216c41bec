"""`etl mappings check` on a broken mappings folder: one mistake is one line, at its place, and the
consequences it would have elsewhere (every field using the source, every source naming the auth)
are not reported as mistakes of their own."""

from __future__ import annotations

import shutil

from helpers import cli

from etl.settings import mappings_dir


def _copy(tmp_path, old: str, new: str):
    folder = tmp_path / "m"
    shutil.copytree(mappings_dir(), folder)
    text = (folder / "sources.yaml").read_text(encoding="utf-8")
    assert old in text
    (folder / "sources.yaml").write_text(text.replace(old, new, 1), encoding="utf-8")
    return folder


def test_a_typo_in_one_source_block_is_one_line(tmp_path):
    """Before: the block's source was dropped, so every field of every file using it (and every
    source listing or authenticating through the same file) said `unknown source`: 51 lines."""
    folder = _copy(tmp_path, "discover:", "discovr:")
    result = cli("mappings", "check", str(folder))
    assert result.exit_code == 2
    assert result.output.splitlines() == [
        f"error: {folder}/sources.yaml: sources.open_llm.identity: unknown key 'discovr': did you mean 'discover'? "
        "valid: dates, discover, equivalent, harmless, hf_id, ids, names, strip"
    ]


def test_a_broken_auth_block_is_one_line(tmp_path):
    folder = _copy(tmp_path, "    prefix: ", "    prefx: ")
    result = cli("mappings", "check", str(folder))
    assert result.exit_code == 2
    lines = result.output.splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"error: {folder}/sources.yaml: auths.huggingface: "), lines


def test_no_auths_declared_says_where_to_declare_them(tmp_path):
    """Before: ``unknown auth 'huggingface': valid: `` (an empty list)."""
    folder = _copy(tmp_path, "\nauths:", "\nauth:")
    result = cli("mappings", "check", str(folder))
    assert result.exit_code == 2
    lines = result.output.splitlines()
    assert lines[0].startswith(f"error: {folder}/sources.yaml: (top level): unknown key 'auth': did you mean 'auths'?")
    assert (
        f"error: {folder}/sources.yaml: sources.huggingface.auth: unknown auth 'huggingface': no auths are declared; "
        f"declare it under a top-level `auths:` key of a file in {folder} (schemas/mapping.schema.json, $defs.auth)"
    ) in lines
    assert not [line for line in lines if line.endswith("valid: ")]


def test_a_source_nobody_declared_is_still_unknown(tmp_path):
    """The broken-block rule keeps only declared names: a real unknown source is still reported."""
    folder = _copy(tmp_path, "discover:", "discovr:")
    (folder / "zz_typo.yaml").write_text(
        "section: dev_benchmarks\nfields:\n  MMLU:\n    - {source: open_lm, path: '$.x'}\n", encoding="utf-8"
    )
    lines = cli("mappings", "check", str(folder)).output.splitlines()
    assert len(lines) == 2 and "fields.MMLU[0].source: unknown source 'open_lm': did you mean" in lines[1]
    assert " open_llm, " in lines[1]  # the broken block's source is still a declared name
