"""Random templates, mapping files and configs are accepted or refused (exit 2), never a traceback."""

from __future__ import annotations

import json
import shutil
import tempfile
from pathlib import Path

import pytest
import yaml
from helpers import cli
from hypothesis import given
from hypothesis import strategies as st
from strategies import FIELDS, SECTIONS, SETTINGS, json_values, scalars

from etl.declared.config import PipelineConfig
from etl.errors import UsageError
from etl.settings import mappings_dir


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
config_keys = st.sampled_from(
    ["template_path", "models", "sources", "timeout", "max_retries", "rate_limit_aa", "modles", "log_level"]
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


@SETTINGS
@given(data=st.dictionaries(config_keys, json_values, max_size=5))
def test_random_configs_raise_only_usage_errors(data):
    try:
        PipelineConfig.from_dict(data, "c.yaml")
    except UsageError as exc:
        assert all(p.startswith("c.yaml: ") or p.startswith("--") for p in exc.problems), exc.problems
