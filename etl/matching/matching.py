"""Find a local model in a source's entries: pins, then join keys, then names with the same tokens.

Never substring, never fuzzy: a name matches an entry only when both have the same tokens (case,
``- _ . / : ,``, spaces and parentheses aside, ``+`` read as ``plus``; size and
``instruct``/``chat``/``it`` tokens in any order, every other token in the same order, so GPT-4.5 is
not GPT-5.4). ``GPT-4o-2024-05-13`` and ``GPT-4o (2024-05-13)`` are the same name. An entry also
fits when its tokens *without* its parenthesised qualifiers equal the query's: that is the
ambiguity guard. Several fitting entries are *ambiguous* (nothing is filled; the candidates and the
pin to write are reported), unless exactly one of them has exactly the query's tokens: ``o3-mini``
is the entry named ``o3-mini``, not ``o3-mini (high)``; a bare ``GLM-4.6`` against
``GLM-4.6 (Reasoning)`` and ``GLM-4.6 (Non-reasoning)`` stays ambiguous. No match drops a query token.

The names of an entry are every identity column its source declares (etl/declared/identity.py): display
names, ids (not an id that drops a word of the display name: the slug ``glm-4-6`` of
"GLM-4.6 (Non-reasoning)"), the repo id of ``hf_id``, and the ``name`` of every ``org/name`` value
whose org mappings/names.yaml declares as that model's developer (``google/gemma-2-2b-it`` names
``gemma-2-2b-it``; ``AI-Sweden-Models/Llama-3-8B-instruct`` names no Meta model). Where a source
declares ``dates``, a day equals a month date of the same name when exactly one entry of that name
has that month ("Claude 3.5 Sonnet (June '24)"). A name without a date that finds an entry dated in
one of its names, or only without its qualifier, finds the source's *only variant*; etl/matching/catalogs.py
makes it ambiguous when the sources date that name differently. Names no rule connects come from
the reviewed aliases of mappings/names.yaml.

Cost: a catalog is indexed once (names by token key, entries by token); a lookup is a dict access,
and the nearest entries of an unmatched model come from a bounded walk of the rarest tokens' posting
lists. Normalisation is linear in the name; names longer than ``MAX_NAME`` characters are truncated
before matching (no model name is that long; a pathological one cannot slow a run).
"""

from __future__ import annotations

import heapq
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from ..declared.identity import (
    HF_PREFIX,
    MAX_NAME,
    NO_NAMES,
    URL,
    NameRules,
    Rules,
    base_key,
    dates,
    has_qualifier,
    hf_key,
    is_day,
    month_key,
    name_key,
    org_name,
    snapshot_dates,
    strip_qualifiers,
    token_diff,
    token_key,
    tokens,
    tokens_key,
)
from ..declared.mappings import Source
from ..declared.paths import first_value

#: candidates listed for an ambiguous model (the count says how many more)
CANDIDATES = 20
#: nearest entries listed for an unmatched model, and the posting-list entries walked to find them
NEAREST = 3
NEAREST_BUDGET = 128


class MatchStatus(StrEnum):
    """Outcome of one (model, source); equal to its plain string, so stored rows stay text."""

    MATCHED = "matched"
    AMBIGUOUS = "ambiguous"
    UNMATCHED = "unmatched"
    SKIPPED = "skipped"
    FAILED = "failed"


class MatchMethod(StrEnum):
    """Which rule found the entry, strongest first (``etl match`` prints it)."""

    PIN = "pin"
    HF_ID = "hf_id"  # a per-model document at the URL of the model's own hf_id
    JOIN = "join:hf_id"
    DISCOVERED = "join:hf_id (discovered)"  # a repo id a catalog published for the model (etl/matching/catalogs.py)
    NAME = "exact name"  # the same name once case and separators are aside
    TOKENS = "exact tokens"  # the same tokens, parentheses aside
    EQUIVALENCE = "declared equivalence"  # the same tokens after the source's declared equivalences
    #: a name without a date or qualifier, and the source's only entry of it, which has one
    #: ("Claude 3.5 Haiku (20241022)"); dated otherwise across sources: ambiguous (etl/matching/catalogs.py)
    ONLY_VARIANT = "only variant"
    MONTH = "month date"  # the same name with a day for the entry's month, the only one of that month
    ALIAS = "declared alias"  # another name of the model (mappings/names.yaml), with its citation


@dataclass
class Match:
    """The outcome for one (model, source). ``nearest``: for an unmatched model, the closest
    entries as {"id", "name", "reason"}, so a pin can be written in one look."""

    status: MatchStatus
    entry: Any = None
    entry_id: str | None = None
    entry_name: str | None = None
    method: str | None = None
    candidates: list[dict[str, str | None]] = field(default_factory=list)
    note: str = ""
    position: int | None = None  # index of the entry in its catalog
    reason: str | None = None  # why not matched, as a code others can test (outcomes.Reason)
    url: str | None = None  # where a failed lookup was sent (failures are reported once per URL)
    nearest: list[dict[str, str | None]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.status = MatchStatus(self.status)

    def nearest_lines(self) -> list[str]:
        """One line per nearest entry: ``<id> (<name>): <reason>``."""
        return [f"{n['id']} ({n['name']}): {n['reason']}" for n in self.nearest]


def _distance(query: Counter[str], entry: Counter[str]) -> int:
    """Tokens in one and not the other (multiset symmetric difference), without building Counters."""
    common = sum(min(n, query[t]) for t, n in entry.items() if t in query)
    return query.total() + entry.total() - 2 * common


class CatalogIndex:
    """One catalog's entries, indexed by id, join key, token key (full, base, month) and token."""

    def __init__(self, source: Source, entries: list[Any], names: NameRules = NO_NAMES):
        self.source = source
        self.entries = entries
        self.shared = names
        self.rules = Rules.of(source.identity)
        self.by_id: dict[str, list[int]] = defaultdict(list)
        self.by_hf: dict[str, list[int]] = defaultdict(list)
        self.by_key: dict[str, list[int]] = defaultdict(list)  # full or base token key -> entries
        self.months: dict[str, list[int]] = defaultdict(list)  # token key, days as months -> entries
        self._nearest: tuple[dict[str, list[int]], list[int]] | None = None  # built by nearest() alone
        self.aliases: dict[str, list[tuple[str, str]]] = defaultdict(list)  # token key -> (alias, citation)
        self.entry_names: list[list[str]] = []  # names(entry) of each entry, read once
        for alias in names.aliases:
            for name in alias.names:
                self.aliases[token_key(name)] += [(other, alias.citation) for other in alias.names if other != name]
        ident = source.identity
        for i, entry in enumerate(entries):
            for expr in ident.ids:
                value = first_value(expr, entry)
                if value is not None:
                    self.by_id[str(value).lower()].append(i)
            if ident.hf_id is not None:
                key = hf_key(first_value(ident.hf_id, entry))
                if key and not URL.match(key):
                    self.by_hf[key].append(i)
            keys: set[str] = set()
            months: set[str] = set()
            self.entry_names.append(self.names(entry))
            for name in self.entry_names[-1]:
                keys |= {token_key(name, self.rules), base_key(name, self.rules)}
                if self.rules.dates and (month := month_key(tokens(name, self.rules))):
                    months.add(month)
            for key in keys:
                self.by_key[key].append(i)
            for key in months:
                self.months[key].append(i)

    def __getstate__(self) -> dict[str, Any]:
        return {**self.__dict__, "_nearest": None}  # a kept index carries no nearest-entry postings

    def _postings(self) -> tuple[dict[str, list[int]], list[int]]:
        """token -> entries, and the fewest tokens of any name of each entry (the tie-break). Only
        `etl match` asks for nearest entries: a run never builds them (a tenth of a large
        catalog's memory, copied into every worker that touched it)."""
        if self._nearest is None:
            postings: dict[str, list[int]] = defaultdict(list)
            lengths = []
            for i, names in enumerate(self.entry_names):
                named = [tokens(n, self.rules) for n in names]
                for word in {t for toks in named for t in toks}:
                    postings[word].append(i)
                lengths.append(min((len(toks) for toks in named), default=0))
            self._nearest = (dict(postings), lengths)
        return self._nearest

    def names(self, entry: Any, published: bool = True) -> list[str]:
        """Every name of the entry: display names (``strip`` applied), ids that keep every word of
        the display names, and the ``name`` of an ``org/name`` value its developer publishes.
        ``published=False`` leaves out what only the ``hf_id`` column says (to check that column)."""
        ident = self.source.identity
        display = self.display_names(entry)
        bags = [tokens(d, self.rules) for d in display]
        values = [v for v in (first_value(e, entry) for e in ident.ids) if isinstance(v, str | int)]
        if published and ident.hf_id is not None and isinstance(hf := first_value(ident.hf_id, entry), str):
            values.append(HF_PREFIX.sub("", hf.strip()).strip("/") if HF_PREFIX.match(hf.strip()) else hf)
        out = list(display)
        for value in [str(v)[:MAX_NAME] for v in values if str(v).strip() and not URL.match(str(v).strip())]:
            if not self._drops(value, bags):
                out.append(value)  # an id that drops a word the display name carries is no name
        for value in display + [str(v) for v in values]:
            found = org_name(value)
            if found and (name := found[1][:MAX_NAME]) and (first := tokens(name)):
                if self.shared.develops(found[0], first[0]) and not self._drops(name, bags, found[0]):
                    out.append(name)
        return list(dict.fromkeys(out))

    def _drops(self, name: str, displays: list[tuple[str, ...]], org: str = "") -> bool:
        """Whether ``name`` has fewer tokens than a display name, and not only its org's."""
        toks = tokens(name, self.rules)
        shorter = [d for d in displays if len(toks) < len(d)]  # a sub-multiset is shorter: most ids are not
        if not shorter:
            return False
        bag, allowed = Counter(toks), Counter(tokens(org, self.rules))
        return any(bag < (b := Counter(d)) and not (b - bag) <= allowed for d in shorter)

    def display_names(self, entry: Any) -> list[str]:
        ident, names = self.source.identity, []
        for expr in ident.names:
            value = first_value(expr, entry)
            if isinstance(value, str) and value.strip():
                value = value[:MAX_NAME]
                names.append(ident.strip.sub("", value) if ident.strip else value)
        return names

    def describe(self, i: int) -> dict[str, str | None]:
        entry = self.entries[i]
        ident = self.source.identity
        eid = first_value(ident.ids[0], entry) if ident.ids else None
        name = first_value(ident.names[0], entry) if ident.names else None
        return {"id": None if eid is None else str(eid), "name": None if name is None else str(name)}

    def _result(self, hits: list[int], method: str | None, note: str = "") -> Match:
        """One entry: matched; several (sorted, distinct): ambiguous, the first CANDIDATES listed."""
        if len(hits) == 1:
            d = self.describe(hits[0])
            entry = self.entries[hits[0]]
            return Match(MatchStatus.MATCHED, entry, d["id"], d["name"], method, note=note, position=hits[0])
        cands = [self.describe(i) for i in hits[:CANDIDATES]]
        more = f" (and {len(hits) - CANDIDATES} more)" if len(hits) > CANDIDATES else ""
        pin = f"ids: {{{self.source.name}: <one of: {', '.join(str(c['id']) for c in cands)}{more}>}}"
        note = f"{len(hits)} entries fit; pin one with {pin}"
        return Match(MatchStatus.AMBIGUOUS, method=method, candidates=cands, note=note)

    def method(self, query: str, i: int) -> tuple[MatchMethod, str] | None:
        """The strongest rule under which entry ``i`` is the query, and the entry's name that
        shows it. None when the entry only fits the guard's way (the query's tokens plus a
        qualifier that is not the old exact-name rule): it counts as a candidate, never alone.
        A name without a date that finds an entry carrying one (in any of its names) finds the
        source's only variant of it: ONLY_VARIANT, which other sources' dates can make ambiguous."""
        key = token_key(query, self.rules)
        names = self.entry_names[i]
        fits = [n for n in names if key in (token_key(n, self.rules), base_key(n, self.rules))]
        strict, bare = name_key(query), not has_qualifier(query)
        found: tuple[MatchMethod, str] | None = None
        for n in fits:
            if strict == name_key(n):
                found = found or (MatchMethod.NAME, n)
        for n in fits:
            if key == token_key(n, self.rules):
                same = token_key(query) == token_key(n)
                found = found or ((MatchMethod.TOKENS if same else MatchMethod.EQUIVALENCE), n)
        for n in fits if bare else []:
            # only a snapshot date is dropped: "(0324)", "(high)" may be another release or a mode
            if strict == name_key(strip_qualifiers(n)) and snapshot_dates(query, [n], self.rules):
                found = found or (MatchMethod.ONLY_VARIANT, n)
        if found and not dates([query]) and snapshot_dates(query, names, self.rules):
            return MatchMethod.ONLY_VARIANT, found[1]
        return found

    def match(self, name: str, hf_id: str | None, pin: Any = None, nearest: bool = True) -> Match:
        """Pin, then join key, then the name's tokens, a month date, an alias; several fitting
        entries are ambiguous. ``nearest``: list an unmatched name's nearest entries (only
        ``etl match`` shows them, and they cost a third of a run's matching: a run goes without)."""
        if pin is False:
            return Match(MatchStatus.SKIPPED, method=MatchMethod.PIN, note="pinned false: not in this source")
        if isinstance(pin, str):
            hits = self.by_id.get(pin.lower(), [])
            if not hits:
                note = f"pin {pin!r} is not an id in this source"
                return Match(MatchStatus.UNMATCHED, method=MatchMethod.PIN, note=note)
            return self._result(sorted(set(hits)), MatchMethod.PIN)
        key = hf_key(hf_id)
        if key and key in self.by_hf:
            hits = self.by_hf[key]
            if len(hits) > 1:  # entries sharing one repo: the name says which (a key it published cannot un-match it)
                found = self.by_name(name)
                if (
                    found.status == MatchStatus.MATCHED
                    and hf_key(first_value(self.source.identity.hf_id, found.entry)) == key
                ):
                    found.note = f"{len(hits)} entries publish {hf_id}; this one by its name" + (
                        f"; {found.note}" if found.note else ""
                    )
                    return found
            return self._result(hits, MatchMethod.JOIN)
        found = self.by_name(name)
        if found.status == MatchStatus.UNMATCHED and found.entry is None and not found.note.startswith("only "):
            found = self.by_alias(name, found)
        if nearest and found.status == MatchStatus.UNMATCHED:
            found.nearest = self.nearest(tokens(name, self.rules))
        return found

    def by_name(self, name: str) -> Match:
        """The name's tokens (exact beats qualified siblings), then a month date."""
        toks = tokens(name, self.rules)
        hits = sorted(set(self.by_key.get(tokens_key(toks), [])))
        how = {i: h for i in hits if (h := self.method(name, i))}
        exact = [i for i in how if any(token_key(n, self.rules) == tokens_key(toks) for n in self.entry_names[i])]
        if len(hits) > 1 and len(exact) == 1:  # o3-mini is the entry named so, not o3-mini (high)
            others = ", ".join(str(self.describe(i)["id"]) for i in hits[: CANDIDATES + 1] if i != exact[0])
            found = self._result(exact, how[exact[0]][0], note=f"exact tokens; not its qualified siblings {others}")
            return found
        if len(hits) > 1:
            return self._result(hits, min((m for m, _ in how.values()), key=list(MatchMethod).index, default=None))
        if not how:
            if hits:
                note = f"only {self.describe(hits[0])['id']} fits, with a qualifier the name lacks; pin it if it is this model"
                return Match(MatchStatus.UNMATCHED, note=note)
            return self.by_month(toks)
        method, shown = how[hits[0]]
        found = self._result(hits, method)
        if shown not in self.display_names(found.entry):
            ids = {str(first_value(e, found.entry)) for e in self.source.identity.ids}
            found.note = f"as {shown!r} ({'an id of the entry' if shown in ids else 'the name part of an org/name id'})"
        return found

    def by_month(self, toks: Sequence[str]) -> Match:
        """A day for the month an entry names, when exactly one entry of the name has that month."""
        month = month_key(toks) if self.rules.dates else None
        hits = sorted(set(self.months.get(month, []))) if month else []
        if len(hits) == 1:
            days = [t for t in toks if is_day(t)]
            names = self.entry_names[hits[0]]
            same = [
                n
                for n in names
                if month_key(t := tokens(n, self.rules)) == month and not (days and any(is_day(x) for x in t))
            ]
            if same or not days:
                found = self._result(hits, MatchMethod.MONTH)
                found.note = f"as {(same or names)[0]!r}: the only entry of this name in that month"
                return found
            return Match(MatchStatus.UNMATCHED, note="no entry has this name or join key")
        if hits:
            found = self._result(hits, MatchMethod.MONTH)
            found.note = f"{len(hits)} entries of this name have that month; " + found.note
            return found
        return Match(MatchStatus.UNMATCHED, note="no entry has this name or join key")

    def by_alias(self, name: str, unmatched: Match) -> Match:
        """The declared aliases of a name that has no entry of its own (mappings/names.yaml): one
        entry for all of them is a match; several, or an ambiguous alias, stay ambiguous."""
        tried = [(alias, cite, self.by_name(alias)) for alias, cite in self.aliases.get(token_key(name), [])]
        fits = [(a, c, m) for a, c, m in tried if m.status != MatchStatus.UNMATCHED]
        if not fits:
            return unmatched
        positions = sorted({m.position for _, _, m in fits if m.position is not None})
        alias, cite, first = fits[0]
        if len(positions) == 1 and all(m.status == MatchStatus.MATCHED for _, _, m in fits):
            first.method, first.note = MatchMethod.ALIAS, f"as its alias {alias!r} ({cite})"
            return first
        found = self._result(positions, MatchMethod.ALIAS) if len(positions) > 1 else first
        found.note = f"its aliases {', '.join(repr(a) for a, _, _ in fits)} fit several entries; {found.note}"
        return found

    def nearest(self, query: Sequence[str]) -> list[dict[str, str | None]]:
        """The entries sharing the most of the query's tokens, rarest tokens first, walking at most
        NEAREST_BUDGET posting entries (a bounded cost per model, whatever the catalog's size)."""
        postings, lengths = self._postings()
        shared: Counter[int] = Counter()
        budget = NEAREST_BUDGET
        for tok in sorted(set(query), key=lambda t: len(postings.get(t, ()))):
            for i in postings.get(tok, ())[:budget]:
                shared[i] += 1
            budget -= min(budget, len(postings.get(tok, ())))
            if not budget:
                break
        ranked, want = [], Counter(query)
        for i, _ in heapq.nlargest(NEAREST * 3, shared.items(), key=lambda kv: (kv[1], -lengths[kv[0]], -kv[0])):
            named = [tokens(n, self.rules) for n in self.entry_names[i]]
            best = min((_distance(want, Counter(toks)), len(toks), toks) for toks in named)
            ranked.append((best[0], i, best[2]))
        out = []
        for _, i, best in sorted(ranked)[:NEAREST]:
            out.append({**self.describe(i), "reason": token_diff(query, best)})
        return out
