"""How sources name models: each source's ``identity`` block, and the shared ``mappings/names.yaml``
(who develops which models, and the reviewed aliases no token rule can connect).

Both are data: the matcher (etl/matching/matching.py) reads them, never a source or developer name in Python.
The names file is checked with the other mapping files (``etl mappings check``) against
``$defs.names_file`` of schemas/mapping.schema.json.
"""

from __future__ import annotations

import functools
import re
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .validation import schema_problems

#: the shared file of mappings/: developers and aliases
NAMES_FILE = "names.yaml"
#: what separates the words of a name (etl/matching/matching.py's separators)
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


# ----- how a name is read: tokens, keys, dates (etl/matching/matching.py compares them) -------
#: longer names are cut here before matching (linear work, bounded memory)
MAX_NAME = 1000
#: names whose tokens and keys are memoised: a name is read again soon after it is first read (by the
#: index, the join-key checks, the next catalog's query); 65,536 cost each worker 20 MB at 10,000 models
TOKEN_CACHE = 1 << 12
_SEP = r"\s._\-/:,'’()"
_WORD = re.compile(rf"[^{_SEP}]+")
_YEAR, _MONTH, _DAY = r"(?:19|20)\d\d", r"(?:0[1-9]|1[0-2])", r"(?:0[1-9]|[12]\d|3[01])"
_END = rf"(?=[{_SEP}]|$)"
_MONTHS = ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")
_MONTH_NAME = (
    r"(?P<mon>jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|may|june?|july?|aug(?:ust)?"
    r"|sep(?:t(?:ember)?)?|oct(?:ober)?|nov(?:ember)?|dec(?:ember)?)"
)
_DATE_TOKEN = re.compile(
    rf"(?P<y>{_YEAR})(?P<m>{_MONTH})(?P<d>{_DAY}){_END}"  # 20240513
    rf"|(?P<y2>{_YEAR})[-_./](?P<m2>{_MONTH})[-_./](?P<d2>{_DAY}){_END}"  # 2024-05-13
    rf"|(?P<m3>{_MONTH})[-_./](?P<y3>{_YEAR}){_END}"  # 05-2024
    rf"|{_MONTH_NAME}\.?(?:\s*['’](?P<yy>\d\d)|\s+(?P<y4>{_YEAR})){_END}"  # June '24, Sept 2024
    rf"|[^{_SEP}]+"
)
_DAY_TOKEN = re.compile(r"^\d{4}-\d\d-\d\d$")
_MONTH_TOKEN = re.compile(r"^\d{4}-\d\d$")
_SIZE = re.compile(r"^(a?\d+(?:x\d+)?[bmkt]|\d+e\d+b?)$")  # 70b, a3b, 8x7b, 1t
_ORDER_FREE = {"instruct", "chat", "it"}
HF_PREFIX = re.compile(r"^https?://(?:www\.)?huggingface\.co/", re.I)
URL = re.compile(r"^[a-z][a-z0-9+.-]*://", re.I)


@dataclass(frozen=True)
class Rules:
    """A source's declared token rules; the default is none."""

    dates: bool = False
    equivalent: tuple[tuple[str, str], ...] = ()

    @classmethod
    def of(cls, identity: Identity) -> Rules:
        return cls(identity.dates, identity.equivalent)


NO_RULES = Rules()
DATES = Rules(dates=True)  # the date reader, for every source: a date is a date wherever it is written


def strip_qualifiers(name: str) -> str:
    """Drop every ``(...)`` group in one left-to-right pass: linear, unlike ``\\([^)]*\\)`` on many '('."""
    out, pos = [], 0
    while True:
        start = name.find("(", pos)
        end = name.find(")", start + 1) if start >= 0 else -1
        if end < 0:
            out.append(name[pos:])
            return " ".join(out)
        out.append(name[pos:start])
        pos = end + 1


def has_qualifier(name: str) -> bool:
    start = name.find("(")
    return start >= 0 and name.find(")", start + 1) >= 0


def _text(name: str) -> str:
    """Cut at MAX_NAME, lower-cased, '+' read as 'plus' (Command R+ is not Command R)."""
    return name[:MAX_NAME].lower().replace("+", " plus ")


@functools.lru_cache(maxsize=TOKEN_CACHE)
def tokens(name: str, rules: Rules = NO_RULES) -> tuple[str, ...]:
    """Lower-case tokens, parentheses aside; declared dates become one token, declared
    equivalents their group's first token. Memoised: a catalog's names are read by the index,
    the join-key checks and every query that reaches them."""
    text = _text(name)
    if not rules.dates:
        out = _WORD.findall(text)
    else:
        out = []
        for m in _DATE_TOKEN.finditer(text):
            if m["y"] or m["y2"]:
                out.append(f"{m['y'] or m['y2']}-{m['m'] or m['m2']}-{m['d'] or m['d2']}")
            elif m["y3"]:
                out.append(f"{m['y3']}-{m['m3']}")
            elif m["mon"]:
                year = m["y4"] or f"20{m['yy']}"
                out.append(f"{year}-{_MONTHS.index(m['mon'][:3]) + 1:02d}")
            else:
                out.append(m.group())
    if rules.equivalent:
        same = dict(rules.equivalent)
        out = [same.get(t, t) for t in out]
    return tuple(out)


def tokens_key(toks: Sequence[str]) -> str:
    fixed, free = [], []
    for t in toks:
        (free if t in _ORDER_FREE or _SIZE.match(t) else fixed).append(t)
    return " ".join(fixed) + "\x1f" + " ".join(sorted(free))  # \x1f is whitespace to the tokenizer: in no token


@functools.lru_cache(maxsize=TOKEN_CACHE)
def token_key(name: str, rules: Rules = NO_RULES) -> str:
    """Equal keys = the same tokens (size and instruct-like tokens in any order)."""
    return tokens_key(tokens(name, rules))


@functools.lru_cache(maxsize=TOKEN_CACHE)
def name_key(name: str) -> str:
    """The strict rule: case and separators aside, but a parenthesised qualifier stays one word."""
    return tokens_key([t for t in re.split(r"[\s._\-/:,'’]+", _text(name)) if t])


@functools.lru_cache(maxsize=TOKEN_CACHE)
def base_key(name: str, rules: Rules = NO_RULES) -> str:
    """The tokens of the name without its parenthesised qualifiers (the variant)."""
    return token_key(strip_qualifiers(name[:MAX_NAME]), rules)


def hf_key(value: Any) -> str | None:
    """A repo id or a huggingface.co URL, as a comparable key."""
    if not isinstance(value, str) or not value.strip():
        return None
    return HF_PREFIX.sub("", value.strip()).strip("/").lower() or None


def is_day(token: str) -> bool:
    """A token the date reader made of a day (``2024-05-13``)."""
    return bool(_DAY_TOKEN.match(token))


def _dated(token: str) -> bool:
    return bool(_DAY_TOKEN.match(token) or _MONTH_TOKEN.match(token))


def dates(names: list[str]) -> set[str]:
    """The dates the names carry, as ``YYYY-MM`` or ``YYYY-MM-DD`` ("Apr '24", 04-2024, 20240402)."""
    return {t for n in names for t in tokens(n, DATES) if _dated(t)}


def snapshot_dates(query: str, names: list[str], rules: Rules = NO_RULES) -> set[str]:
    """The dates of those names that are the query's name and a date: its snapshots ("Command-R+
    (Apr '24)", command-r-plus-04-2024 for Command R+), not a run's date beside other words
    (swe_bench's folder 20250807_mini-v1.7.0_gpt-oss-120b)."""
    read = Rules(True, rules.equivalent)
    want = tokens_key([t for t in tokens(query, read) if not _dated(t)])
    out: set[str] = set()
    for name in names:
        toks = tokens(name, read)
        if any(_dated(t) for t in toks) and tokens_key([t for t in toks if not _dated(t)]) == want:
            out |= {t for t in toks if _dated(t)}
    return out


def month_key(toks: Sequence[str]) -> str | None:
    """The token key with every day reduced to its month; None for a name without a date."""
    if not any(_DAY_TOKEN.match(t) or _MONTH_TOKEN.match(t) for t in toks):
        return None
    return tokens_key([t[:7] if _DAY_TOKEN.match(t) else t for t in toks])


def org_name(value: Any) -> tuple[str, str] | None:
    """``org/name`` or ``https://huggingface.co/org/name[/...]`` -> (org, name); else None."""
    if not isinstance(value, str):
        return None
    text = HF_PREFIX.sub("", value.strip())
    if URL.match(text):
        return None  # a URL outside huggingface.co names a page, not a model
    parts = [p for p in text.split("/") if p]
    if len(parts) < 2 or (len(parts) > 2 and text == value.strip()) or re.search(r"\s", parts[0]):
        return None  # "a / b" or a path: not an org/name id
    return parts[0], parts[1]


def token_diff(query: Sequence[str], entry: Sequence[str]) -> str:
    """Why an entry with these tokens is not the query's (entry's view: extra / missing tokens)."""
    q, e = Counter(query), Counter(entry)
    parts = []
    for word, ours, theirs in (("missing", q, e), ("extra", e, q)):
        # what Counter subtraction keeps (positive counts), without building a Counter per side
        left = sorted(t for t, n in ours.items() for _ in range(n - theirs[t]))
        if left:
            listed = ", ".join(f"'{t}'" for t in left)
            parts.append(f"{word} token{'s' if len(left) > 1 else ''} {listed}")
    return "; ".join(parts) or "same tokens in another order"
