"""Find a local model in a source's entries: pins, then join keys, then normalized exact names.

Never substring, never fuzzy. Several candidates are *ambiguous*: nothing is filled, the candidates
and the pin to write are reported. Names are compared on their base (parenthesised qualifiers such
as "(Reasoning)", "(high)", "(Dec '24)" removed): a user who wrote "GLM-4.6" did not say which of
"GLM-4.6 (Reasoning)" and "GLM-4.6 (Non-reasoning)" they meant, even though AA's plain slug
``glm-4-6`` happens to spell the name. A catalog is indexed once; each lookup is a dict access.
"""

from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from .mappings import Source
from .paths import first_value

_QUALIFIER = re.compile(r"\([^)]*\)")
_SEPARATORS = re.compile(r"[\s._\-/:,'’]+")
_SIZE = re.compile(r"^(a?\d+(?:x\d+)?[bmkt]|\d+e\d+b?)$")  # 70b, a3b, 8x7b, 1t
_ORDER_FREE = {"instruct", "chat", "it"}
HF_PREFIX = re.compile(r"^https?://(?:www\.)?huggingface\.co/", re.I)


def _tokens(name: str) -> list[str]:
    return [t for t in _SEPARATORS.split(name.lower()) if t]


def name_key(name: str) -> str:
    """Case, separators, and the order of size and 'instruct' tokens do not matter."""
    tokens = _tokens(name)
    fixed = [t for t in tokens if not (_SIZE.match(t) or t in _ORDER_FREE)]
    free = sorted(t for t in tokens if _SIZE.match(t) or t in _ORDER_FREE)
    return " ".join(fixed + free)


def base_key(name: str) -> str:
    return name_key(_QUALIFIER.sub(" ", name))


def has_qualifier(name: str) -> bool:
    return bool(_QUALIFIER.search(name))


def hf_key(value: Any) -> str | None:
    """A repo id or a huggingface.co URL, as a comparable key."""
    if not isinstance(value, str) or not value.strip():
        return None
    return HF_PREFIX.sub("", value.strip()).strip("/").lower() or None


@dataclass
class Match:
    """The outcome for one (model, source). ``status`` is one of STATUSES."""

    status: str
    entry: Any = None
    entry_id: str | None = None
    entry_name: str | None = None
    method: str | None = None
    candidates: list[dict[str, str | None]] = field(default_factory=list)
    note: str = ""
    position: int | None = None  # index of the entry in its catalog
    reason: str | None = None  # why not matched, as a code others can test (outcomes.Reason)
    url: str | None = None  # where a failed lookup was sent (failures are reported once per URL)


STATUSES = ("matched", "ambiguous", "unmatched", "skipped", "failed")


class CatalogIndex:
    """One catalog's entries, indexed by id, join key, full name and base name."""

    def __init__(self, source: Source, entries: list[Any]):
        self.source = source
        self.entries = entries
        self.by_id: dict[str, list[int]] = defaultdict(list)
        self.by_hf: dict[str, list[int]] = defaultdict(list)
        self.by_name: dict[str, list[int]] = defaultdict(list)
        self.by_base: dict[str, list[int]] = defaultdict(list)
        ident = source.identity
        for i, entry in enumerate(entries):
            for expr in ident.ids:
                value = first_value(expr, entry)
                if value is not None:
                    self.by_id[str(value).lower()].append(i)
            if ident.hf_id is not None:
                key = hf_key(first_value(ident.hf_id, entry))
                if key:
                    self.by_hf[key].append(i)
            for name in self._names(entry):
                self.by_name[name_key(name)].append(i)
                self.by_base[base_key(name)].append(i)

    def _names(self, entry: Any) -> list[str]:
        names = []
        for expr in self.source.identity.names:
            value = first_value(expr, entry)
            if isinstance(value, str) and value.strip():
                strip = self.source.identity.strip
                names.append(strip.sub("", value) if strip else value)
        return names

    def describe(self, i: int) -> dict[str, str | None]:
        entry = self.entries[i]
        ident = self.source.identity
        eid = first_value(ident.ids[0], entry) if ident.ids else None
        name = first_value(ident.names[0], entry) if ident.names else None
        return {"id": None if eid is None else str(eid), "name": None if name is None else str(name)}

    def _result(self, hits: list[int], method: str, note: str = "") -> Match:
        hits = sorted(set(hits))
        if len(hits) == 1:
            d = self.describe(hits[0])
            return Match("matched", self.entries[hits[0]], d["id"], d["name"], method, note=note, position=hits[0])
        cands = [self.describe(i) for i in hits]
        pin = f"ids: {{{self.source.name}: <one of: {', '.join(str(c['id']) for c in cands)}>}}"
        return Match("ambiguous", method=method, candidates=cands, note=f"{len(hits)} entries fit; pin one with {pin}")

    def match(self, name: str, hf_id: str | None, pin: Any = None) -> Match:
        if pin is False:
            return Match("skipped", method="pin", note="pinned false: not in this source")
        if isinstance(pin, str):
            hits = self.by_id.get(pin.lower(), [])
            if not hits:
                return Match("unmatched", method="pin", note=f"pin {pin!r} is not an id in this source")
            return self._result(hits, "pin")
        key = hf_key(hf_id)
        if key and key in self.by_hf:
            return self._result(self.by_hf[key], "join:hf_id")
        if has_qualifier(name):  # the user named a variant: only that exact variant fits
            hits = self.by_name.get(name_key(name), [])
            return self._result(hits, "name") if hits else Match("unmatched", note="no entry has this name")
        hits = self.by_base.get(base_key(name), [])
        if not hits:
            return Match("unmatched", note="no entry has this name or join key")
        return self._result(hits, "name")
