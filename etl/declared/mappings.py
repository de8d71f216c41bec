"""Load, check and compile ``mappings/``: the declaration is data, this module only reads it.

Every problem in every file is collected before raising, so one ``etl mappings check`` shows them
all. JSONPaths and regexes are compiled once here, never per model.
"""

from __future__ import annotations

import re
import string
from collections.abc import Collection
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import yaml

from ..errors import UsageError
from ..settings import mappings_dir
from .files import load_yaml, regex_hazard, yaml_problem
from .identity import NAMES_FILE, Identity, NameRules, compile_identity, load_names
from .listing import FILE_KEY, Listing, listing_of, listing_problems
from .paths import KeyPath, compile_path, first_value
from .per_source import resolve_auths
from .rows import STATED, Evidence, Select, Version, build_evidence, build_select, build_version
from .validation import schema_problems, suggest

__all__ = [
    "FILE_KEY",
    "Candidate",
    "Identity",
    "Listing",
    "KeyPath",
    "Mappings",
    "NameRules",
    "Source",
    "compile_path",
    "first_value",
    "load_mappings",
]

SOURCES_FILE = "sources.yaml"
#: what a mapping file may hold at its top level
FILE_KEYS = ("sources", "auths", "section", "description", "variants", "versions", "tolerance", "fields", "no_source")


@dataclass(frozen=True)
class Source:
    """One entry of sources.yaml, compiled. Every field but ``name`` is a key of the schema's
    ``$defs.source`` (a test keeps the two equal), so the declaration and the code cannot drift."""

    name: str
    url: str
    scope: str
    description: str = ""
    format: str = "json"
    params: dict[str, Any] = field(default_factory=dict)
    records: Any = None
    pagination: dict[str, Any] | None = None
    where: tuple[tuple[Any, str, Any], ...] = ()
    identity: Identity = Identity()
    auth: dict[str, Any] | None = None
    enabled: bool = True
    rate_limit: float | None = None
    rate_limit_setting: str | None = None
    attribution: str = ""
    not_found: frozenset[int] = frozenset()
    hints: dict[int, str] = field(default_factory=dict)
    context: dict[str, Any] = field(default_factory=dict)
    key_field: str | None = None
    companions: dict[str, dict[str, Any]] = field(default_factory=dict)
    #: format tar.gz: {members: glob, join: {key: sibling file}} (etl/http/formats.py)
    archive: dict[str, Any] | None = None
    #: the date the data stopped changing: a cached copy is never re-fetched because of its age
    frozen_since: str | None = None
    #: (group path, by path): of several entries with the same group value, the one with the highest `by`
    best_row: tuple[Any, Any] | None = None
    derivative: tuple[Any, re.Pattern[str]] | None = None  # (path, regex): the document is another model's
    deadline: float | None = None  # seconds a request may take in all; None: settings.DEFAULT_DEADLINE
    max_body: int | None = None  # bytes, decompressed; None: settings.DEFAULT_MAX_BODY_BYTES
    shrink_limit: float | None = None  # share of records a refresh may lose; None: settings.DEFAULT_SHRINK_LIMIT
    #: the files of this per-model source are the ones another source's document lists ({file})
    listed_by: Listing | None = None

    def is_derivative(self, entry: Any, repo: str = "") -> str | None:
        """The value that marks ``entry`` (repo ``org/name``) as a derivative repo, if any: a match
        whose ``org`` group is the repo's own org is the developer's own repo, not a derivative."""
        if self.derivative is None:
            return None
        expr, regex = self.derivative
        own = repo.split("/")[0].lower()
        for m in expr.find(entry):
            hit = regex.search(str(m.value))
            org = hit.groupdict().get("org") if hit else None
            if hit and not (org and org.lower() == own):
                return str(m.value)
        return None

    @property
    def placeholders(self) -> list[str]:
        """Model attributes the URL needs ({hf_id}); a model lacking one skips this source."""
        return [name for _, name, _, _ in string.Formatter().parse(self.url) if name]

    @property
    def key_envs(self) -> tuple[str, ...]:
        """The environment variables that may hold this source's key, in order."""
        return (env,) if isinstance(env := (self.auth or {}).get("env") or (), str) else tuple(env)

    def keeps(self, entry: Any) -> bool:
        """Apply the ``where`` conditions."""
        for expr, op, operand in self.where:
            value = first_value(expr, entry)
            if op == "equals" and value != operand:
                return False
            if op == "not_equals" and value == operand:
                return False
            if op == "matches" and not (value is not None and operand.search(str(value))):
                return False
            if op == "not_matches" and value is not None and operand.search(str(value)):
                return False
        return True

    def one_row_each(self, entries: list[Any]) -> list[Any]:
        """Apply ``best_row``: one entry per group value, the highest ``by`` (first on ties); entries
        without a group value or a numeric ``by`` are kept as they are."""
        if self.best_row is None:
            return entries
        group, by = self.best_row
        best: dict[str, int] = {}
        for i, entry in enumerate(entries):
            key, score = first_value(group, entry), _score(first_value(by, entry))
            if key is None or score is None:
                continue
            held = best.get(str(key))
            if held is None or score > _score(first_value(by, entries[held])):
                best[str(key)] = i
        keep = set(best.values())
        return [
            e
            for i, e in enumerate(entries)
            if i in keep or _score(first_value(by, e)) is None or first_value(group, e) is None
        ]


def _score(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


@dataclass(frozen=True)
class Candidate:
    """One way to fill one field. CANDIDATE_PLACE are the candidate's place (``where`` is
    'file: fields.<field>[i]' for messages, ``expr`` the compiled ``path``); every other field is a
    key of the schema's ``$defs.candidate`` (a test keeps the two equal)."""

    section: str
    field: str
    rank: int
    where: str
    source: str
    expr: Any = None
    path: str | None = None
    compute: str | None = None
    type: str | None = None
    scale: float | None = None
    divide: float | None = None
    round: int | None = None
    map: dict[str, Any] | None = None
    null_if: tuple[Any, ...] = ()
    variant: str | None = None
    note: str | None = None
    percent_if_fraction: bool = False
    #: keys next to the matched value (its parent object) kept with the raw value, e.g. is_self_reported
    provenance: tuple[str, ...] = ()
    #: what states that the value is the field's variant (etl/declared/rows.py)
    evidence: Evidence | None = None
    #: the version of the values, declared or read from the row or page
    version: Version | None = None
    #: which of several rows with different values is the value
    select: Select | None = None

    def describe_transform(self) -> str:
        """Human-readable transform chain, stored with each value's provenance."""
        steps = []
        if self.compute:
            steps.append(f"compute {self.compute}")
        if self.null_if:
            steps.append(f"null_if {list(self.null_if)}")
        if self.map:
            steps.append(f"map {self.map}")
        if self.type is not None:
            steps.append(f"type {self.type}")
        if self.percent_if_fraction:
            steps.append("percent_if_fraction")
        for name in ("scale", "divide", "round"):
            if getattr(self, name) is not None:
                steps.append(f"{name} {getattr(self, name)}")
        return ", ".join(steps) or "as is"


#: Candidate fields that are not YAML keys: where the candidate sits, and its compiled path
CANDIDATE_PLACE = ("section", "field", "rank", "where", "expr")
#: Source fields that are not YAML keys: the name is the key under ``sources:``
SOURCE_PLACE = ("name",)


@dataclass
class Mappings:
    sources: dict[str, Source]
    #: section -> field -> ordered candidates (empty list: no source publishes it yet)
    sections: dict[str, dict[str, list[Candidate]]]
    folder: Path
    #: (section, field) -> absolute tolerance beyond which two candidates are in conflict
    tolerances: dict[tuple[str, str], float] = field(default_factory=dict)
    #: (section, field) -> the benchmark variant the field means
    variants: dict[tuple[str, str], str] = field(default_factory=dict)
    #: (section, field) -> why no source publishes it (shown in FIELDS.md)
    no_source: dict[tuple[str, str], str] = field(default_factory=dict)
    #: (section, field) -> (the one version its values are, why that one, where it is declared)
    versions: dict[tuple[str, str], tuple[str, str, str]] = field(default_factory=dict)
    #: mappings/names.yaml: developers and aliases (etl/declared/identity.py)
    names: NameRules = field(default_factory=NameRules)

    def fields(self) -> list[tuple[str, str, list[Candidate]]]:
        return [(s, f, c) for s, fields in self.sections.items() for f, c in fields.items()]

    def used_sources(self) -> set[str]:
        return {c.source for _, _, cands in self.fields() for c in cands}


def _read_yaml(path: Path, problems: list[str]) -> Any:
    try:
        text = path.read_bytes().decode("utf-8")
    except UnicodeDecodeError as exc:
        problems.append(f"{path}: byte {exc.start}: not UTF-8 text; save the file as UTF-8")
        return None
    try:
        return load_yaml(text)
    except yaml.YAMLError as exc:
        problems.append(yaml_problem(path, exc))
        return None


def _compile(expression: str, where: str, problems: list[str]) -> Any:
    try:
        return compile_path(expression)
    except Exception as exc:  # jsonpath-ng raises several unrelated types
        detail = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        problems.append(f"{where}: JSONPath {expression!r} does not parse ({detail}); fix the path")
        return None


def _regex(pattern: str, where: str, problems: list[str]) -> re.Pattern[str] | None:
    if hazard := regex_hazard(pattern):  # run on every name of a catalog: no exponential backtracking
        problems.append(f"{where}: {hazard}")
        return None
    try:
        return re.compile(pattern)
    except re.error as exc:
        problems.append(f"{where}: regex {pattern!r} does not compile ({exc}); fix the pattern")
        return None


def _build_source(name: str, raw: dict[str, Any], file: Path, problems: list[str]) -> Source:
    """Compile one schema-valid declaration: keys that hold paths or regexes are compiled, the
    rest are taken as they are."""
    at = f"{file}: sources.{name}"
    compiled: dict[str, Any] = {
        "records": _compile(raw.get("records", "$"), f"{at}.records", problems),
        "where": tuple(_where(raw.get("where", []), at, problems)),
        "identity": compile_identity(raw.get("identity", {}), at, problems, _compile, _regex),
        "not_found": frozenset(raw.get("not_found", [])),
        "hints": {int(k): v for k, v in raw.get("hints", {}).items()},
        "context": {k: _compile(v, f"{at}.context.{k}", problems) for k, v in raw.get("context", {}).items()},
        "derivative": (
            _compile(raw["derivative"]["path"], f"{at}.derivative.path", problems),
            _regex(raw["derivative"]["matches"], f"{at}.derivative.matches", problems),
        )
        if "derivative" in raw
        else None,
        "best_row": (
            _compile(raw["best_row"]["group"], f"{at}.best_row.group", problems),
            _compile(raw["best_row"]["by"], f"{at}.best_row.by", problems),
        )
        if "best_row" in raw
        else None,
        "frozen_since": str(raw["frozen_since"]) if "frozen_since" in raw else None,  # YAML reads a date
        "listed_by": listing_of(
            raw["listed_by"],
            _compile(raw["listed_by"]["path"], f"{at}.listed_by.path", problems),
            _regex(raw["listed_by"]["matches"], f"{at}.listed_by.matches", problems)
            if "matches" in raw["listed_by"]
            else None,
        )
        if "listed_by" in raw
        else None,
    }
    pagination = dict(raw["pagination"]) if "pagination" in raw else None
    for key in ("has_more", "total"):
        if pagination and key in pagination:
            pagination[key] = _compile(pagination[key], f"{at}.pagination.{key}", problems)
    compiled["pagination"] = pagination
    if raw["scope"] == "catalog" and "records" not in raw:
        problems.append(f"{at}: a catalog source needs 'records' (the JSONPath of its entry list)")
    if raw.get("format") == "tar.gz" and "archive" not in raw:
        problems.append(f"{at}: a tar.gz source needs 'archive' (which members are records)")
    if raw["scope"] == "per_model" and not [n for _, n, _, _ in string.Formatter().parse(raw["url"]) if n]:
        problems.append(f"{at}.url: a per_model URL needs a placeholder such as {{hf_id}}")
    plain = {f.name: raw[f.name] for f in fields(Source) if f.name in raw and f.name not in compiled}
    return Source(name=name, **plain, **compiled)


def _where(conditions: list[dict[str, Any]], at: str, problems: list[str]) -> list[tuple[Any, str, Any]]:
    out = []
    for i, cond in enumerate(conditions):
        ops = [k for k in ("equals", "not_equals", "matches", "not_matches") if k in cond]
        if len(ops) != 1:
            problems.append(f"{at}.where[{i}]: give exactly one of equals, not_equals, matches, not_matches")
            continue
        operand = cond[ops[0]]
        if ops[0] in ("matches", "not_matches"):
            operand = _regex(operand, f"{at}.where[{i}]", problems)
        out.append((_compile(cond["path"], f"{at}.where[{i}].path", problems), ops[0], operand))
    return out


def _build_candidates(
    section: str,
    fname: str,
    raws: list[dict[str, Any]],
    file: Path,
    sources: Collection[str] | None,
    problems: list[str],
    offset: int = 0,
) -> list[Candidate]:
    out = []
    keys = [f.name for f in fields(Candidate) if f.name not in CANDIDATE_PLACE]
    for i, raw in enumerate(raws):
        where = f"{file}: fields.{fname}[{i}]"
        if not isinstance(raw.get("source"), str) or not isinstance(raw.get("path", ""), str):
            continue  # the schema check reports it
        if sources is not None and raw["source"] not in sources:
            problems.append(f"{where}.source: unknown source '{raw['source']}': {suggest(raw['source'], sources)}")
            continue
        declared = {k: raw[k] for k in keys if k in raw}
        for key in ("null_if", "provenance"):  # lists in YAML, tuples in a frozen dataclass
            if key in declared:
                declared[key] = tuple(declared[key])
        declared["evidence"] = build_evidence(raw.get("evidence"), where, problems)
        declared["version"] = build_version(raw.get("version"), where, problems)
        declared["select"] = build_select(raw.get("select"), where, problems)
        expr = _compile(raw["path"], f"{where}.path", problems) if "path" in raw else None
        out.append(Candidate(section=section, field=fname, rank=offset + i, where=where, expr=expr, **declared))
    return out


def load_mappings(folder: Path | str | None = None) -> Mappings:
    """Read every mapping file of ``folder`` (default: the shipped ``mappings/``); raise UsageError
    listing every problem of every file.

    Any file may declare ``sources:`` and/or one ``section:`` with its ``fields:``, so a new source
    can arrive as one self-contained YAML file. A field listed in several files gets the candidates
    of all of them, in file-name order (``etl mappings table`` shows the result)."""
    folder = Path(folder) if folder else mappings_dir()
    if not folder.is_dir():
        raise UsageError(f"{folder}: mappings folder not found; pass an existing folder")
    if not (folder / SOURCES_FILE).is_file():
        raise UsageError(f"{folder / SOURCES_FILE}: missing; every mappings folder declares its sources there")
    problems: list[str] = []
    sources, files, broken = _read_files(folder, problems)
    mappings = Mappings(sources, {}, folder, names=load_names(folder, problems, _read_yaml))
    for path, raw, valid in files:
        _add_section(mappings, path, raw, valid, problems, broken)
    for (name, fname), means in mappings.variants.items():
        for cand in mappings.sections.get(name, {}).get(fname, []):
            _guard_variant(cand, means, problems)
    for name, fname in mappings.versions:
        for cand in mappings.sections.get(name, {}).get(fname, []):
            if cand.version is None:
                problems.append(f"{cand.where}: this field holds one version; add `version:` (declared or read)")
    if problems:
        raise UsageError(problems)
    return mappings


def _read_files(
    folder: Path, problems: list[str]
) -> tuple[dict[str, Source], list[tuple[Path, dict, bool]], frozenset[str]]:
    """Every file's sources (compiled), section parts (with whether they are schema-valid), and the
    sources declared with a block the schema refuses (a typo there is one problem, not one per use)."""
    shared = (SOURCES_FILE, NAMES_FILE)
    paths = [folder / SOURCES_FILE] + [p for p in sorted(folder.glob("*.y*ml")) if p.name not in shared]
    files: list[tuple[Path, dict[str, Any], bool]] = []
    sources: dict[str, Source] = {}
    origin: dict[str, Path] = {}
    auths: list[tuple[Path, str, dict[str, Any]]] = []
    broken: dict[str, set[str]] = {"sources": set(), "auths": set()}  # declared with an invalid block
    for path in paths:
        if path.suffix not in (".yaml", ".yml"):
            continue
        raw = _read_yaml(path, problems)
        if raw is None:
            if not problems or not problems[-1].startswith(str(path)):
                problems.append(f"{path}: empty file; give 'sources:' or 'section:' and 'fields:', or delete it")
            continue
        if not isinstance(raw, dict):
            problems.append(f"{path}: (top level): expected a mapping with 'sources:' or 'section:' and 'fields:'")
            continue
        unknown = [k for k in raw if k not in FILE_KEYS]
        problems += [f"{path}: (top level): unknown key {str(k)!r}: {suggest(str(k), FILE_KEYS)}" for k in unknown]
        if declares := {k: raw[k] for k in ("sources", "auths") if k in raw}:
            found = schema_problems("mapping.schema.json", declares, str(path), "sources_file")
            problems += found
            for name, decl in _blocks(declares, "auths", broken["auths"], bool(found)):
                auths.append((path, name, decl))
            for name, decl in _blocks(declares, "sources", broken["sources"], bool(found)):
                if name in sources:
                    problems.append(f"{path}: sources.{name}: already declared in another file; keep one")
                sources[name] = _build_source(name, decl, path, problems)
                origin[name] = path
        rest = {k: v for k, v in raw.items() if k not in ("sources", "auths") and k in FILE_KEYS}
        if rest or not declares:
            found = schema_problems("mapping.schema.json", rest, str(path), "section_file")
            problems += found
            files.append((path, rest, not found))
    listing_problems(sources, origin, problems, frozenset(broken["sources"]))
    resolve_auths(sources, auths, origin, problems, frozenset(broken["auths"]))
    return sources, files, frozenset(broken["sources"])


def _blocks(declares: dict[str, Any], key: str, broken: set[str], checked: bool) -> list[tuple[str, Any]]:
    """The schema-valid blocks under ``key`` ("sources" or "auths") as (name, block); the names
    of the others go to ``broken`` (the whole file's check has reported their problems; when it
    found none, ``checked`` is False and every block is valid)."""
    blocks = declares.get(key)
    if not isinstance(blocks, dict):
        return []
    good = []
    for name, decl in blocks.items():
        if checked and schema_problems("mapping.schema.json", {key: {name: decl}}, "", "sources_file"):
            broken.add(str(name))
        else:
            good.append((str(name), decl))
    return good


def _add_section(
    mappings: Mappings, path: Path, raw: dict[str, Any], valid: bool, problems: list[str], broken: frozenset[str]
) -> None:
    """Add one file's fields (candidates, tolerances, variants) to the mappings; a source in
    ``broken`` is declared (its block's problem is reported once, where it is)."""
    fields = raw.get("fields")
    if not isinstance(fields, dict):
        return
    name = str(raw.get("section"))
    section = mappings.sections.setdefault(name, {})
    tol = raw.get("tolerance") if isinstance(raw.get("tolerance"), dict) else {}
    for fname in fields:
        if "default" in tol or fname in tol.get("fields", {}):
            mappings.tolerances[(name, fname)] = tol.get("fields", {}).get(fname, tol.get("default"))
    declared = raw.get("variants") if isinstance(raw.get("variants"), dict) else {}
    for fname, text in declared.items():
        if fname not in fields:
            problems.append(
                f"{path}: variants.{fname}: not a field of this file: {suggest(str(fname), map(str, fields))}"
            )
        mappings.variants[(name, fname)] = text
    _no_source(path, raw, name, mappings.no_source, problems)
    versions = raw.get("versions") if isinstance(raw.get("versions"), dict) else {}
    for fname, decl in versions.items():
        if fname not in fields:
            problems.append(
                f"{path}: versions.{fname}: not a field of this file: {suggest(str(fname), map(str, fields))}"
            )
        elif isinstance(decl, dict):
            decl = (str(decl.get("version")), str(decl.get("why", "")), f"{path.name} versions.{fname}")
            mappings.versions[(name, fname)] = decl
    known = (set(mappings.sources) | broken) or None
    for fname, cands in fields.items():
        if isinstance(cands, list) and all(isinstance(c, dict) for c in cands):
            # semantic checks run even when the schema failed, so every problem shows at once
            offset = len(section.get(fname, []))
            built = _build_candidates(name, fname, cands, path, known, problems, offset)
            section[fname] = section.get(fname, []) + (built if valid else [])


def _no_source(path: Path, raw: dict[str, Any], section: str, out: dict, problems: list[str]) -> None:
    """Collect a file's `no_source:` reasons; each must name a field of the file with no candidate."""
    why = raw.get("no_source") if isinstance(raw.get("no_source"), dict) else {}
    for fname, text in why.items():
        if raw["fields"].get(fname) != []:
            problems.append(
                f"{path}: no_source.{fname}: only for a field of this file with no candidate (`{fname}: []`)"
            )
        out[(section, fname)] = text


def _guard_variant(cand: Candidate, means: str, problems: list[str]) -> None:
    """A candidate fills a field only with the variant the field means, and must say so."""
    if cand.variant is None:
        problems.append(
            f"{cand.where}: this field means {means!r}; add `variant:` saying which variant this candidate "
            "yields (the same text if it is that one)"
        )
    elif cand.variant != means:
        problems.append(
            f"{cand.where}.variant: {cand.variant!r} is not the variant this field means ({means!r}); "
            "map it to a field of its own or drop it"
        )
    elif cand.evidence is None or cand.evidence.kind not in STATED:
        kind = "assumed" if cand.evidence else "none declared"
        problems.append(
            f"{cand.where}.evidence: {kind}; this field means {means!r}, so a candidate fills it only with "
            f"stated evidence: `evidence: {{kind: <{'|'.join(sorted(STATED))}>, states: ...}}`"
        )
