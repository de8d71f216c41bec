"""The fast validators and dotted paths agree with jsonschema and jsonpath-ng; every schema is valid."""

from __future__ import annotations

import json

import pytest
from hypothesis import example, given
from hypothesis import strategies as st
from jsonpath_ng.ext import parse as jsonpath_parse  # noqa: E402
from jsonschema import Draft202012Validator  # noqa: E402
from strategies import FIELDS, SECTIONS, SETTINGS, json_values, scalars

from etl.declared.mappings import KeyPath, compile_path  # noqa: E402
from etl.declared.validation import fast_validator, validator  # noqa: E402
from etl.settings import schemas_dir  # noqa: E402

numbers = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-5, 200),
    st.floats(-5, 200),
    st.just(float("nan")),
    st.sampled_from([0.0, 100.0, 0, 100, 1.0, 131072.5]),
    st.text(max_size=3),
)
model_docs = st.fixed_dictionaries(
    {
        s: st.one_of(
            st.dictionaries(
                st.sampled_from([*FIELDS, "param_count", "lm_sys_arena_score", "model_name"]), numbers, max_size=6
            ),
            scalars,
        )
        for s in SECTIONS
    }
)


def test_every_schema_is_a_valid_json_schema():
    for path in schemas_dir().glob("*.json"):
        Draft202012Validator.check_schema(json.loads(path.read_text()))


@SETTINGS
@given(doc=st.one_of(model_docs, json_values))
@example(
    doc={"entity_benchmarks": {"MMLU": float("nan")}, "dev_benchmarks": {}, "community_score": {}, "model_specs": {}}
)
@example(
    doc={"entity_benchmarks": {}, "dev_benchmarks": {}, "community_score": {}, "model_specs": {"architecture": True}}
)
@example(
    doc={"entity_benchmarks": {}, "dev_benchmarks": {}, "community_score": {}, "model_specs": {"context_window": 1.0}}
)
def test_fast_model_validator_agrees_with_jsonschema(doc):
    fast = fast_validator("model.schema.json")
    assert fast is not None
    assert fast(doc) == validator("model.schema.json").is_valid(doc)


@SETTINGS
@given(doc=st.one_of(model_docs, json_values))
def test_fast_consumer_check_agrees_with_jsonschema(doc):
    """The verdict's fast path (no jsonschema when a file is scoreable) says what jsonschema says."""
    fast = fast_validator("llmscoreengine.schema.json")
    assert fast is not None
    assert fast(doc) == validator("llmscoreengine.schema.json").is_valid(doc)


@SETTINGS
@given(doc=st.dictionaries(st.sampled_from(["models", "timeout", "sources", "log_level"]), json_values, max_size=4))
def test_fast_config_validator_agrees_with_jsonschema(doc):
    assert fast_validator("config.schema.json")(doc) == validator("config.schema.json").is_valid(doc)


#: documents whose keys the plain paths below name, at any depth (keys, lists, anything else)
_keyed = st.recursive(
    scalars,
    lambda c: st.one_of(
        st.lists(c, max_size=3),
        st.dictionaries(st.sampled_from(["a", "b", "b c", "Model Link", "tags", "x_1", "y"]), c, max_size=4),
    ),
    max_leaves=12,
)
_PLAIN_PATHS = ["$", "$.a", "$.a.b", "$.x_1.y", "$.'Model Link'", '$."b c"', "$['a']['b c']", "$.tags.[0]", "$.a[1].b"]


@SETTINGS
@given(doc=st.one_of(json_values, _keyed), path=st.sampled_from(_PLAIN_PATHS))
def test_plain_paths_agree_with_jsonpath_ng(doc, path):
    """Keys (dotted, quoted, bracketed) and list indexes are read as plain lookups: same answer."""
    fast = compile_path(path)
    assert isinstance(fast, KeyPath)
    assert [m.value for m in fast.find(doc)] == [m.value for m in jsonpath_parse(path).find(doc)]


@pytest.mark.parametrize("path", ["$.a[*]", "$..a", "$.a[?(@.b)]", "$.a[-1]", "$.a[0:2]", "$.a.`len`"])
def test_other_paths_are_read_by_jsonpath_ng(path):
    assert not isinstance(compile_path(path), KeyPath)


@pytest.mark.parametrize("path", ["$'a'", "$.a'b'", "$.a['b'"])
def test_a_malformed_plain_path_is_refused_as_before(path):
    """A quoted key needs its dot or its brackets: `$'a'` is a typo for jsonpath-ng, and stays one."""
    with pytest.raises(Exception):  # noqa: B017 - jsonpath-ng's own error types, whichever it raises
        compile_path(path)
