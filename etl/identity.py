"""How sources name models: each source's ``identity`` block, and the shared ``mappings/names.yaml``
(who develops which models, and the reviewed aliases no token rule can connect).

Both are data: the matcher (etl/matching.py) reads them, never a source or developer name in Python.
The names file is checked with the other mapping files (``etl mappings check``) against
``$defs.names_file`` of schemas/mapping.schema.json.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .validation import schema_problems

#: the shared file of mappings/: developers and aliases
NAMES_FILE = "names.yaml"
#: what separates the words of a name (etl/matching.py's separators)
_SEPARATORS = re.compile(r"[\s._\-/:,'’()]+")


@dataclass(frozen=True)
class Identity:
    """How a source names its entries (schema: ``$defs.source.properties.identity``)."""

    ids: tuple[Any, ...] = ()
    names: tuple[Any, ...] = ()
    hf_id: Any = None
    strip: re.Pattern[str] | None = None
    #: (token, the token it counts as), from the declared ``equivalent`` groups
    equivalent: tuple[tuple[str, str], ...] = ()
    #: dates (YYYYMMDD, YYYY-MM-DD, MM-YYYY, "June '24", "July 2024") are one token each
    dates: bool = False
    #: words a repo name published by an entry may have or lack and still name that entry
    harmless: frozenset[str] = frozenset()
    #: whether ``hf_id`` is a key for a model matched by name (False: it only joins a model that has one)
    discover: bool = True


def compile_identity(
    ident: dict[str, Any],
    at: str,
    problems: list[str],
    path: Callable[[str, str, list[str]], Any],
    regex: Callable[[str, str, list[str]], Any],
) -> Identity:
    """One schema-valid ``identity`` block, its paths and regex compiled (``path``/``regex`` report
    a problem with its place and return None)."""
    return Identity(
        ids=tuple(path(p, f"{at}.identity.ids", problems) for p in ident.get("ids", [])),
        names=tuple(path(p, f"{at}.identity.names", problems) for p in ident.get("names", [])),
        hf_id=path(ident["hf_id"], f"{at}.identity.hf_id", problems) if "hf_id" in ident else None,
        strip=regex(ident["strip"], f"{at}.identity.strip", problems) if "strip" in ident else None,
        equivalent=tuple((t.lower(), g[0].lower()) for g in ident.get("equivalent", []) for t in g[1:]),
        dates=bool(ident.get("dates", False)),
        harmless=frozenset(w.lower() for w in ident.get("harmless", [])),
        discover=bool(ident.get("discover", True)),
    )


@dataclass(frozen=True)
class Alias:
    """Names of one model that no token rule connects, and where that is written."""

    names: tuple[str, ...]
    citation: str


@dataclass(frozen=True)
class NameRules:
    """The shared declarations: org -> the name prefixes of the models it develops; aliases."""

    developers: dict[str, tuple[str, ...]] = field(default_factory=dict)
    aliases: tuple[Alias, ...] = ()

    def develops(self, org: str, first_token: str) -> bool:
        """Whether ``org`` is declared as the developer of a model whose name starts so."""
        return any(first_token.startswith(p) for p in self.developers.get(org.lower(), ()))

    def own_prefix(self, org: str, token: str) -> bool:
        """Whether ``token`` is, whole, a prefix ``org`` declares (``c4ai`` of CohereForAI): its
        own repos may carry it before the model's name (``CohereForAI/c4ai-command-r-plus``)."""
        return token in self.developers.get(org.lower(), ())


NO_NAMES = NameRules()


def load_names(folder: Path, problems: list[str], read: Callable[[Path, list[str]], Any]) -> NameRules:
    """``folder/names.yaml`` checked against the schema (absent: no developers, no aliases)."""
    path = folder / NAMES_FILE
    if not path.is_file():
        return NO_NAMES
    raw = read(path, problems)
    if raw is None:
        return NO_NAMES
    found = schema_problems("mapping.schema.json", raw, str(path), "names_file")
    if found:
        problems += found
        return NO_NAMES
    developers = {
        str(org).lower(): tuple(p.lower() for p in prefixes) for org, prefixes in raw.get("developers", {}).items()
    }
    aliases = tuple(Alias(tuple(a["names"]), a["citation"]) for a in raw.get("aliases", []))
    seen: dict[str, int] = {}
    for i, alias in enumerate(aliases):
        words = [tuple(w for w in _SEPARATORS.split(n.lower().replace("+", " plus ")) if w) for n in alias.names]
        if len(set(words)) < len(words):
            same = [n for n, w in zip(alias.names, words, strict=True) if words.count(w) > 1]
            problems.append(
                f"{path}: aliases[{i}]: {' and '.join(map(repr, same))} have the same tokens; no alias is needed"
            )
        for name in alias.names:
            low = name.lower()
            if low in seen and seen[low] != i:
                problems.append(f"{path}: aliases[{i}]: {name!r} is already in aliases[{seen[low]}]; merge the two")
            seen[low] = i
    return NameRules(developers, aliases)
