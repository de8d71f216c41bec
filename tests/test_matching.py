"""Name normalization and the matching rules on small literal inputs."""

from __future__ import annotations

import pytest

from etl.declared.identity import base_key, name_key
from etl.declared.mappings import Identity, Source, compile_path
from etl.matching.matching import CatalogIndex


def _index(entries, **ident):
    source = Source(
        name="src",
        url="http://127.0.0.1/x",
        scope="catalog",
        records=compile_path("$[*]"),
        identity=Identity(
            ids=(compile_path("$.slug"),),
            names=(compile_path("$.name"),),
            hf_id=compile_path("$.hf") if ident.get("hf") else None,
        ),
    )
    return CatalogIndex(source, entries)


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("Qwen2.5 Instruct 72B", "Qwen2.5-72B-Instruct"),
        ("Llama 3.1 Instruct 70B", "llama_3.1 70b instruct"),
        ("GLM-4.6", "glm 4 6"),
    ],
)
def test_names_equal_after_normalization(a, b):
    assert name_key(a) == name_key(b)


def test_qualifiers_are_variants_not_noise():
    assert base_key("GLM-4.6 (Reasoning)") == base_key("GLM-4.6 (Non-reasoning)") == name_key("GLM-4.6")
    assert name_key("GLM-4.6 (Reasoning)") != name_key("GLM-4.6 (Non-reasoning)")
    assert name_key("GLM-4.6") != name_key("GLM-4.6V")  # no substring matching


def test_matching_rules():
    idx = _index(
        [
            {"slug": "glm-4-6", "name": "GLM-4.6 (Non-reasoning)"},
            {"slug": "glm-4-6-reasoning", "name": "GLM-4.6 (Reasoning)"},
            {"slug": "glm-4-6v", "name": "GLM-4.6V"},
            {"slug": "x", "name": "Thing", "hf": "https://huggingface.co/Org/Thing"},
            {"slug": "y", "name": "Dup"},
            {"slug": "z", "name": "dup"},
        ],
        hf=True,
    )
    ambiguous = idx.match("GLM-4.6", None)
    assert ambiguous.status == "ambiguous"
    assert [c["id"] for c in ambiguous.candidates] == ["glm-4-6", "glm-4-6-reasoning"]
    assert "pin one with ids: {src: <one of: glm-4-6, glm-4-6-reasoning>}" in ambiguous.note
    assert idx.match("GLM-4.6", None, pin="glm-4-6-reasoning").entry_id == "glm-4-6-reasoning"
    assert idx.match("GLM-4.6 (Reasoning)", None).entry_id == "glm-4-6-reasoning"
    assert idx.match("GLM-4.6V", None).entry_id == "glm-4-6v"
    assert idx.match("Other name", "org/thing").method == "join:hf_id"
    assert idx.match("GLM", None).status == "unmatched"  # never a substring
    assert idx.match("GLM-4.6", None, pin=False).status == "skipped"
    assert idx.match("GLM-4.6", None, pin="nope").note == "pin 'nope' is not an id in this source"
    assert idx.match("DUP", None).status == "ambiguous"
