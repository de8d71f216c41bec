"""Property-based: random templates, mapping files and configs never crash the tool or print a
traceback; they are either accepted or refused with exit 2 (or, for templates, a per-model error)."""

from __future__ import annotations

import json
import shutil
import tempfile
from pathlib import Path

import pytest
import yaml
from helpers import cli
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from etl.config import PipelineConfig
from etl.errors import UsageError
from etl.settings import mappings_dir

SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
scalars = st.one_of(
    st.none(), st.booleans(), st.integers(-(10**6), 10**6), st.floats(allow_nan=True), st.text(max_size=12)
)
json_values = st.recursive(
    scalars,
    lambda c: st.one_of(st.lists(c, max_size=4), st.dictionaries(st.text(max_size=8), c, max_size=4)),
    max_leaves=12,
)
SECTIONS = ["entity_benchmarks", "dev_benchmarks", "community_score", "model_specs"]
FIELDS = ["MMLU", "input_price", "hf_score", "architecture", "context_window", "artificial_analysis"]


def _clean(result) -> None:
    assert "Traceback" not in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)


templates = st.one_of(
    json_values,
    st.dictionaries(
        st.sampled_from(SECTIONS),
        st.one_of(json_values, st.dictionaries(st.sampled_from(FIELDS), scalars, max_size=4)),
        max_size=4,
    ),
)


@SETTINGS
@pytest.mark.slow
@given(template=templates, raw=st.booleans())
def test_random_templates(warm_store, template, raw):
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        store = tmp / "s.sqlite"
        shutil.copy(warm_store, store)
        path = tmp / "t.json"
        path.write_bytes(json.dumps(template).encode()[: (None if not raw else 7)])
        result = cli(
            "run",
            "-t",
            str(path),
            "-m",
            '["DeepSeek V3"]',
            "--offline",
            "--cache-path",
            str(store),
            "-o",
            str(tmp / "o"),
        )
        _clean(result)
        assert result.exit_code in (0, 1, 2)


candidate_keys = st.sampled_from(
    ["source", "path", "compute", "type", "scale", "divide", "round", "map", "null_if", "variant", "bogus"]
)
candidate_values = st.one_of(
    scalars, st.sampled_from(["openrouter", "$.a.b", "$[", "hf_score", "number", "$..x[?(@.y == 1)]"])
)
candidates = st.dictionaries(candidate_keys, candidate_values, max_size=5)
section_files = st.one_of(
    json_values,
    st.fixed_dictionaries(
        {
            "section": st.one_of(st.sampled_from(SECTIONS), scalars),
            "fields": st.one_of(
                json_values,
                st.dictionaries(
                    st.one_of(st.sampled_from(FIELDS), st.integers(), st.none()),
                    st.one_of(st.lists(candidates, max_size=3), json_values),
                    max_size=3,
                ),
            ),
        }
    ),
)


@SETTINGS
@given(doc=section_files, as_text=st.one_of(st.none(), st.text(max_size=40)))
def test_random_mapping_files(doc, as_text):
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        shutil.copy(mappings_dir() / "sources.yaml", folder / "sources.yaml")
        text = as_text if as_text is not None else yaml.safe_dump(doc, allow_unicode=True)
        (folder / "random.yaml").write_text(text, encoding="utf-8")
        result = cli("mappings", "check", str(folder))
        _clean(result)
        assert result.exit_code in (0, 2)
        if result.exit_code == 2:
            lines = result.output.splitlines()
            assert lines and all(line.startswith("error: ") and not line.endswith(": ") for line in lines), lines


config_keys = st.sampled_from(
    ["template_path", "models", "sources", "timeout", "max_retries", "rate_limit_aa", "modles", "log_level"]
)


@SETTINGS
@given(data=st.dictionaries(config_keys, json_values, max_size=5))
def test_random_configs_raise_only_usage_errors(data):
    try:
        PipelineConfig.from_dict(data, "c.yaml")
    except UsageError as exc:
        assert all(p.startswith("c.yaml: ") or p.startswith("--") for p in exc.problems), exc.problems


# ----- the fast paths agree with the libraries they stand in for ---------------------------------
from jsonpath_ng.ext import parse as jsonpath_parse  # noqa: E402
from jsonschema import Draft202012Validator  # noqa: E402

from etl.mappings import KeyPath, compile_path  # noqa: E402
from etl.settings import schemas_dir  # noqa: E402
from etl.validation import fast_validator, validator  # noqa: E402

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


@SETTINGS
@given(doc=json_values, path=st.sampled_from(["$", "$.a", "$.a.b", "$.pricing.prompt", "$.x_1.y"]))
def test_dotted_paths_agree_with_jsonpath_ng(doc, path):
    fast = compile_path(path)
    assert isinstance(fast, KeyPath)
    assert [m.value for m in fast.find(doc)] == [m.value for m in jsonpath_parse(path).find(doc)]
