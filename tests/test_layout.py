"""The layout keeps its promises: one declaration per concept, stages free of presentation,
small modules and functions."""

from __future__ import annotations

import ast
import functools
import json
import re
from dataclasses import fields
from pathlib import Path

import pytest

from etl.declared.mappings import CANDIDATE_PLACE, SOURCE_PLACE, Candidate, Source
from etl.declared.transforms import COMPUTES
from etl.settings import schemas_dir

ETL = Path(__file__).resolve().parent.parent / "etl"
MAPPING_SCHEMA = json.loads((schemas_dir() / "mapping.schema.json").read_text())


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


def _module_name(path: Path) -> str:
    parts = path.relative_to(ETL.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


#: every etl module, by its dotted name (a package by its own name: etl/http/__init__.py is etl.http)
MODULES = {_module_name(p): p for p in sorted(ETL.rglob("*.py"))}
THE_STAGES = ("etl.extract", "etl.transform", "etl.load")
#: ARCHITECTURE.md's rooms, bottom up: a module imports only from its own room or from rooms below it
LAYERS = (
    ("etl.errors", "etl.settings"),
    ("etl.store",),
    ("etl.declared",),
    ("etl.results",),
    ("etl.http",),
    ("etl.matching",),
    THE_STAGES,
    ("etl.pipeline",),
    ("etl.cli", "etl.__main__", "etl"),
)
PRESENTATION = "etl.cli"
ENTRY_POINTS = ("etl", "etl.__main__")  # etl:main imports the command (in a function), python -m etl runs it


@functools.cache
def _imports(module: str) -> frozenset[str]:
    """The etl modules ``module`` names in an import (relative or absolute, lazy ones too)."""
    path = MODULES[module]
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            base = ".".join(package.split(".")[: len(package.split(".")) - node.level + 1]) if node.level else ""
            target = ".".join(filter(None, (base, node.module)))
            for alias in node.names:
                if f"{target}.{alias.name}" in MODULES:  # from . import settings
                    names.add(f"{target}.{alias.name}")
                elif target in MODULES:
                    names.add(target)
        elif isinstance(node, ast.Import):
            names |= {a.name for a in node.names if a.name in MODULES}
    return frozenset(names)


def _reachable(module: str) -> set[str]:
    """Every etl module ``module`` imports, directly or through others."""
    seen, todo = set(), [module]
    while todo:
        for name in _imports(todo.pop()):
            if name not in seen:
                seen.add(name)
                todo.append(name)
    return seen


def _in(module: str, room: str) -> bool:
    return module == room or module.startswith(f"{room}.")


LIBRARY = [m for m in MODULES if not _in(m, PRESENTATION) and m not in ENTRY_POINTS]


@pytest.mark.parametrize("module", LIBRARY)
def test_no_stage_imports_presentation(module):
    """The stages, the Python API and everything they use never reach the CLI package (the
    command, its options, the terminal, the rendered reports)."""
    assert not {m for m in _reachable(module) if _in(m, PRESENTATION)}


@pytest.mark.parametrize("module", [m for m in MODULES if _in(m, PRESENTATION)])
def test_no_module_of_the_command_reads_the_store(module):
    """ARCHITECTURE.md: the commands format what `Pipeline` returns and never read the store
    themselves; of the store, every module of cli/ (not cli.py alone) may use only the one-line
    errors of its file (store/storefile.py)."""
    store = {m for m in _imports(module) if _in(m, "etl.store") and m != "etl.store.storefile"}
    tree = ast.parse(MODULES[module].read_text())
    sqlite = [
        n
        for n in ast.walk(tree)
        if (isinstance(n, ast.Import) and any(a.name == "sqlite3" for a in n.names))
        or (isinstance(n, ast.ImportFrom) and n.module == "sqlite3")
    ]
    assert not store and not sqlite


@pytest.mark.parametrize("stage", THE_STAGES)
def test_stages_stand_side_by_side(stage):
    """ARCHITECTURE.md: extract, transform and load share modules but never import one another,
    not even through a third module; only pipeline.py wires them."""
    assert not _reachable(stage) & (set(THE_STAGES) - {stage})


def _layer(module: str) -> int:
    found = [i for i, rooms in enumerate(LAYERS) for room in rooms if _in(module, room) and room != "etl"]
    return found[0] if found else (len(LAYERS) - 1 if module == "etl" else -1)


@pytest.mark.parametrize("module", list(MODULES))
def test_each_module_imports_only_its_room_and_the_rooms_below(module):
    """etl/ is a handful of rooms (ARCHITECTURE.md), each named by its job: a new module goes in
    one of them, and no room reaches up (the HTTP layer never imports matching, the store never
    imports what it stores), so the packages never import one another in a circle."""
    assert _layer(module) >= 0, f"{module} is in none of the rooms of LAYERS"
    above = sorted(m for m in _imports(module) if _layer(m) > _layer(module))
    assert not above


def test_no_file_names_a_path_of_one_machine():
    root = ETL.parent
    files = [*ETL.rglob("*.py"), *(root / "tests").glob("*.py"), *root.glob("*.md"), *(root / "mappings").glob("*")]
    found = [
        f"{p.name}: {m.group()}"
        for p in files
        for m in re.finditer(r"(?<![\w.])/(?:work|home|Users)/\S+", p.read_text())
    ]
    assert not found


@pytest.mark.parametrize("path", sorted(ETL.rglob("*.py")), ids=lambda p: p.relative_to(ETL).as_posix())
def test_modules_and_functions_stay_small(path):
    tree = ast.parse(path.read_text())
    long = [
        f"{n.name} ({n.end_lineno - n.lineno + 1} lines)"
        for n in ast.walk(tree)
        if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef) and n.end_lineno - n.lineno + 1 > 60
    ]
    assert not long
    assert len(path.read_text().splitlines()) <= 520


#: standard-library names a Python older than the version given lacks: (module, name) -> version
NEWER_STDLIB = {
    ("enum", "StrEnum"): (3, 11),
    ("datetime", "UTC"): (3, 11),
    ("typing", "Self"): (3, 11),
    ("typing", "override"): (3, 12),
    ("tomllib", None): (3, 11),
}


def test_the_declared_python_floor_has_what_the_code_imports():
    """pyproject's requires-python is what pip checks before installing: below what the code
    imports (enum.StrEnum is 3.11), pip on 3.10 goes on and fails on a dependency (jsonpath-ng>=1.16
    needs 3.11 too) with "no matching distribution", which does not say why."""
    declared = re.search(r'^requires-python = ">=(\d+)\.(\d+)"$', (ETL.parent / "pyproject.toml").read_text(), re.M)
    floor = tuple(map(int, declared.groups()))
    needed = {}
    for path in ETL.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom):
                names = [(node.module, a.name) for a in node.names]
            elif isinstance(node, ast.Import):
                names = [(a.name, None) for a in node.names]
            else:
                continue
            for name in names:
                if name in NEWER_STDLIB:
                    needed[f"{path.relative_to(ETL).as_posix()}: {name}"] = NEWER_STDLIB[name]
    assert not {where: version for where, version in needed.items() if version > floor}
