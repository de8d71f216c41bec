"""Templates: duplicate JSON keys are an error, nesting is read up to the bound and refused beyond it."""

from __future__ import annotations

import json

import pytest
from helpers import cli, errors

from etl.declared.files import MAX_DEPTH


def test_a_duplicate_key_in_a_json_template_is_an_error(workdir):
    (workdir / "t.json").write_text('{\n  "model_specs": {"input_price": null},\n  "model_specs": {}\n}\n')
    (workdir / "c.yaml").write_text("models: [a]\ntemplate_path: t.json\ncache_path: s.db\n")
    result = cli("run", "-c", "c.yaml", "--offline")
    assert result.exit_code == 2
    assert errors(result) == [f"error: {workdir / 't.json'}: line 3: duplicate key 'model_specs'; keep one"]


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
