"""Documents: what a parsed answer becomes. A ``Document`` and its records (a list, or an object
keyed by model), the pages of a catalog, and the checks that keep a wrong answer out of every later
run: a body of the wrong shape, a page that repeats the one before or brings no new record, a
catalog that comes back far smaller than its cached copy. Parsing itself is etl/http/formats.py's
registry, one parser per ``format``.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from jsonpath_ng import Child

from .. import settings
from ..declared.mappings import KeyPath, Source, first_value
from ..errors import SourceError
from . import formats


@dataclass
class Document:
    source: str
    url: str
    body: Any
    fetched_at: str
    context: dict[str, Any] = field(default_factory=dict)

    companions: dict[str, Any] = field(default_factory=dict)

    def records(self, source: Source) -> list[Any]:
        """The entries of this response: a list, or an object keyed by model (``key_field``)."""
        out = []
        for match in source.records.find(self.body):
            value = match.value
            if source.key_field and isinstance(value, dict):
                entries = [
                    {**v, source.key_field: k} if isinstance(v, dict) else {source.key_field: k, "value": v}
                    for k, v in value.items()
                ]
            else:
                entries = [value]
            out += [e for e in entries if source.keeps(e)]
        return source.one_row_each(out)


#: one page: (source, url, params) -> its document
GetPage = Callable[[Source, str, dict[str, Any]], Document]


def pages(source: Source, url: str, get: GetPage) -> list[Document]:
    """All pages of a catalog, or the one document of a per-model URL. A page that repeats
    the one before, or brings no new record, stops paging as a failure (a server ignoring the
    page parameter would otherwise be asked ``max_pages`` times); so does reaching ``max_pages``."""
    pag = source.pagination
    params = dict(source.params)
    if not pag:
        return [get(source, url, params)]
    docs: list[Document] = []
    seen: set[str] = set()
    value, step, max_pages = pag.get("start", 1), pag.get("step", 1), pag.get("max_pages", 100)
    for _ in range(max_pages):
        params[pag["param"]] = value
        doc = get(source, url, params)
        docs.append(doc)
        records = [m.value for m in source.records.find(doc.body)]
        if not records:
            return docs
        _check_progress(source, url, f"{pag['param']}={value}", docs, records, seen)
        if "has_more" in pag and not first_value(pag["has_more"], doc.body):
            return docs
        if "total" in pag:
            total = first_value(pag["total"], doc.body)
            if not isinstance(total, int) or value + step >= total:
                return docs
        value += step
    raise SourceError(
        source.name,
        f"still more pages after max_pages ({max_pages}) from {url}: stopped; if the catalog really is "
        f"that large, raise pagination.max_pages of {source.name} in sources.yaml",
        url,
    )


def _same(a: Any, b: Any) -> bool:
    try:
        return a == b
    except RecursionError:
        return False


def _check_progress(source: Source, url: str, page: str, docs: list, records: list, seen: set[str]) -> None:
    if len(docs) > 1 and _same(docs[-1].body, docs[-2].body):
        raise SourceError(
            source.name,
            f"the page at {page} from {url} is identical to the one before: stopped paging after {len(docs)} pages",
            url,
        )
    ids = set()
    for record in records:
        rid = next((v for e in source.identity.ids if (v := first_value(e, record)) is not None), None)
        try:
            ids.add(json.dumps(record if rid is None else rid, sort_keys=True, default=str))
        except RecursionError:  # a record too deep to compare counts as new
            ids.add(f"#{len(seen) + len(ids)}")
    if not ids - seen:
        raise SourceError(
            source.name,
            f"the page at {page} from {url} has no new records (all {len(ids)} ids seen on earlier pages): "
            f"stopped paging after {len(docs)} pages",
            url,
        )
    seen |= ids


def _kind(value: Any) -> str:
    return {dict: "an object", list: "a list", str: "a string", type(None): "null"}.get(
        type(value), type(value).__name__
    )


def check_shape(source: Source, url: str, body: Any) -> None:
    """A JSON body must have the shape ``records`` reads (objects where records are expected):
    anything else would crash or silently empty the transform, in every later run."""
    if source.records is None:
        return
    if source.format != "json":
        formats.check_records(source, url, len(body) if isinstance(body, list) else 0)
        return
    expr = source.records
    if isinstance(expr, KeyPath):  # a key first: an object; an index first ("$[0]"): a list
        wants_object = not expr or isinstance(expr[0], str)
    else:
        wants_object = str(expr)[:2] == "$." and str(expr)[2:3] not in ("*", "[")
    if wants_object and not isinstance(body, dict):
        raise SourceError(
            source.name,
            f"unexpected JSON shape from {url}: expected an object at the top level, got {_kind(body)}",
            url,
        )
    step = expr
    while isinstance(step, Child):  # what a wildcard steps into must be a list or an object
        if str(step.right) in ("*", "[*]"):
            for match in step.left.find(body):
                if not isinstance(match.value, (list, dict)):
                    raise SourceError(
                        source.name,
                        f"unexpected JSON shape from {url}: {step.left} holds {_kind(match.value)}, expected a list of records",
                        url,
                    )
        step = step.left
    found = expr.find(body)
    for match in found:
        if not isinstance(match.value, dict):
            raise SourceError(
                source.name,
                f"unexpected JSON shape from {url}: {expr} holds {_kind(match.value)}, expected objects",
                url,
            )
    formats.check_records(source, url, len(found))


#: below this many cached records only a drop to zero counts as a shrink (small catalogs vary)
SHRINK_MIN_RECORDS = 10


def check_shrink(source: Source, url: str, before: int, now: int) -> None:
    """A catalog page that comes back with far fewer records than the cached copy is a failure
    (the cached copy then stays in use): one bad answer must not erase filled values."""
    limit = source.shrink_limit if source.shrink_limit is not None else settings.DEFAULT_SHRINK_LIMIT
    if before and (now == 0 or (before >= SHRINK_MIN_RECORDS and now < before * (1 - limit))):
        raise SourceError(
            source.name,
            f"{url} answered {now} record(s) where the cached copy has {before} (more than {limit:.0%} "
            f"fewer): kept the cached copy; if the catalog really shrank, raise sources.{source.name}.shrink_limit",
            url,
        )
