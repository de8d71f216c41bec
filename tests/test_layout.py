"""The layout keeps its promises: one declaration per concept, stages free of presentation,
small modules and functions."""

from __future__ import annotations

import ast
import json
import re
from dataclasses import fields
from pathlib import Path

import pytest

from etl.mappings import CANDIDATE_PLACE, SOURCE_PLACE, Candidate, Source
from etl.settings import schemas_dir
from etl.transforms import COMPUTES

ETL = Path(__file__).resolve().parent.parent / "etl"
MAPPING_SCHEMA = json.loads((schemas_dir() / "mapping.schema.json").read_text())
STAGES = ("extract", "transform", "load", "pipeline", "sources", "outcomes", "coverage")
PRESENTATION = ("cli", "terminal", "report")
THE_STAGES = ("extract", "transform", "load")


def test_schema_keys_are_the_dataclass_fields():
    defs = MAPPING_SCHEMA["$defs"]
    assert set(defs["source"]["properties"]) == {f.name for f in fields(Source)} - set(SOURCE_PLACE)
    assert set(defs["candidate"]["properties"]) == {f.name for f in fields(Candidate)} - set(CANDIDATE_PLACE)


def test_the_compute_enum_is_the_registry():
    assert set(MAPPING_SCHEMA["$defs"]["candidate"]["properties"]["compute"]["enum"]) == set(COMPUTES)


def _objects(node, out):
    if isinstance(node, dict):
        if len(node) >= 3:
            out.append(json.dumps(node, sort_keys=True))
        for value in node.values():
            _objects(value, out)
    elif isinstance(node, list):
        for value in node:
            _objects(value, out)
    return out


def test_the_mapping_schema_holds_each_definition_once():
    seen = _objects(MAPPING_SCHEMA, [])
    twice = {s[:80] for s in seen if seen.count(s) > 1}
    assert not twice


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.level == 1:
            names.add((node.module or "").split(".")[0])
    return names


@pytest.mark.parametrize("stage", STAGES)
def test_no_stage_imports_presentation(stage):
    assert not _imports(ETL / f"{stage}.py") & set(PRESENTATION)


def _reachable(module: str) -> set[str]:
    """Every etl module ``module`` imports, directly or through others."""
    seen, todo = set(), [module]
    while todo:
        for name in _imports(ETL / f"{todo.pop()}.py"):
            if name not in seen and (ETL / f"{name}.py").exists():
                seen.add(name)
                todo.append(name)
    return seen


@pytest.mark.parametrize("stage", THE_STAGES)
def test_stages_stand_side_by_side(stage):
    """ARCHITECTURE.md: extract, transform and load share modules but never import one another,
    not even through a third module; only pipeline.py wires them."""
    assert not _reachable(stage) & (set(THE_STAGES) - {stage})


def test_no_file_names_a_path_of_one_machine():
    root = ETL.parent
    files = [*ETL.glob("*.py"), *(root / "tests").glob("*.py"), *root.glob("*.md"), *(root / "mappings").glob("*")]
    found = [
        f"{p.name}: {m.group()}"
        for p in files
        for m in re.finditer(r"(?<![\w.])/(?:work|home|Users)/\S+", p.read_text())
    ]
    assert not found


@pytest.mark.parametrize("path", sorted(ETL.glob("*.py")), ids=lambda p: p.name)
def test_modules_and_functions_stay_small(path):
    tree = ast.parse(path.read_text())
    long = [
        f"{n.name} ({n.end_lineno - n.lineno + 1} lines)"
        for n in ast.walk(tree)
        if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef) and n.end_lineno - n.lineno + 1 > 60
    ]
    assert not long
    assert len(path.read_text().splitlines()) <= 520
