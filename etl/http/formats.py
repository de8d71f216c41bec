"""Body formats: one registry (``FORMATS``) from a source's ``format`` to its parser, and the
bounds every upstream body must stay within before it becomes a document.

A body is parsed only after a count of its separators (commas, brackets, newlines...: a cheap
upper bound on how many values it holds, measured in C by ``bytes.count``) fits a budget that
scales with the source's ``max_body``: 1 KB of ``[{},{},...]`` is ~340 dicts, ~25 KB in memory,
so a 32 MiB body of them would be ~0.7 GB. After parsing, nesting deeper than ``MAX_DEPTH`` is
refused (json, jsonpath and sqlite's encoder recurse once per level). YAML bodies get the
user-file reader's checks (etl/declared/files.py): aliases that expand beyond a bound ("billion laughs"),
duplicate keys, deep nesting; plus only JSON's types (no ``!!binary``, ``!!set``) and no
integer beyond Python's 4,300 digits. Every refusal is a SourceError: the source fails, the
body is never cached (etl/http/fetch.py saves only bodies that parse).

An archive (``tar.gz``) becomes a list of records: one per member matching the source's
``archive.members`` glob, its sibling files (``archive.join``) parsed and stored under their keys.
So a repository snapshot (LLM Stats: ``model.json`` + ``benchmarks.json`` per model) is one
request and one record per model, and every JSONPath of the mappings reads it like any other
catalog. A member name written twice in one archive is refused (tar keeps the last silently).
"""

from __future__ import annotations

import csv
import io
import json
import posixpath
import tarfile
import zlib
from collections.abc import Callable
from fnmatch import fnmatchcase
from typing import Any

import yaml

from .. import settings
from ..declared.files import MAX_DEPTH, checked_loader, echo
from ..declared.mappings import Source
from ..errors import SourceError

#: members larger than this are not read (a data file of a leaderboard is far smaller)
MAX_MEMBER_BYTES = 20_000_000
#: body bytes allowed per counted value: the value budget is ``max_body // BYTES_PER_VALUE``.
#: JSON/CSV: 32 MiB -> 1,048,576 values (~100 MB parsed, worst case); the largest real counts
#: are 362k (Open LLM's CSV, rows x columns) and 107k (SWE-bench's JSON). YAML nodes cost ~10x
#: more while composed: 32 MiB -> 104,857 (Aider's leaderboard counts 5k).
BYTES_PER_VALUE = {"json": 32, "csv": 32, "yaml": 320}
#: body bytes allowed per record (what ``records`` finds): each costs ~400 bytes in the catalog
#: index and matching besides its own values. 32 MiB -> 104,857 records (the largest real: 4.5k).
BYTES_PER_RECORD = 320
_SCALARS = (str, int, float, bool, type(None))
_CONTAINERS = (dict, list)


class _NoTimestamps(getattr(yaml, "CSafeLoader", yaml.SafeLoader)):  # type: ignore[misc]
    """SafeLoader without the timestamp rule: a `date: 2025-02-25` stays the string the file says,
    so raw values stay JSON-serialisable for provenance."""


_NoTimestamps.yaml_implicit_resolvers = {
    first: [(tag, regex) for tag, regex in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_BodyLoader = checked_loader(_NoTimestamps)


def _fail(source: Source, url: str, problem: str) -> SourceError:
    return SourceError(source.name, f"{problem} from {url}; nothing kept", url)


def _too_deep(source: Source, url: str, what: str) -> SourceError:
    return SourceError(source.name, f"{what} from {url} is nested too deeply to read; nothing kept", url)


def _count(content: bytes, separators: bytes) -> int:
    return sum(content.count(bytes([c])) for c in separators)


def estimate(fmt: str, content: bytes) -> int:
    """An upper bound (within ~2x) on the values a body of ``fmt`` parses into, counted in C."""
    if fmt == "csv":  # a short row still gets every header column (DictReader's restval)
        header = content.split(b"\n", 1)[0]
        return (content.count(b"\n") + 1) * (header.count(b",") + 1) + content.count(b",")
    if fmt == "yaml":
        return _count(content, b"\n,[{-:")
    return _count(content, b",[{")


def check_budget(source: Source, url: str, fmt: str, content: bytes, spent: int = 0) -> int:
    """Refuse a body whose values would not fit the source's budget; returns the values spent."""
    limit = source.max_body or settings.DEFAULT_MAX_BODY_BYTES
    budget = limit // BYTES_PER_VALUE.get(fmt, BYTES_PER_VALUE["json"])
    spent += estimate(fmt, content)
    if spent > budget:
        raise SourceError(
            source.name,
            f"the {fmt} body from {url} holds about {spent:,} values, more than the {budget:,} its size "
            f"allows (built to exhaust memory?); nothing kept; if it is genuine, raise sources.{source.name}.max_body",
            url,
        )
    return spent


def check_records(source: Source, url: str, count: int) -> None:
    """Refuse a body with more records than its size allows (each costs far more than its bytes)."""
    cap = (source.max_body or settings.DEFAULT_MAX_BODY_BYTES) // BYTES_PER_RECORD
    if count > cap:
        raise SourceError(
            source.name,
            f"the body from {url} holds {count:,} records, more than the {cap:,} its size allows "
            f"(built to exhaust memory?); nothing kept; if it is genuine, raise sources.{source.name}.max_body",
            url,
        )


def too_deep(data: Any, bound: int = MAX_DEPTH) -> bool:
    """Whether lists and dicts nest more than ``bound`` levels; level by level, no recursion."""
    level = [data] if type(data) in _CONTAINERS else []
    for _ in range(bound):
        if not level:
            return False
        nxt: list[Any] = []
        for node in level:
            nxt += [v for v in (node.values() if type(node) is dict else node) if type(v) in _CONTAINERS]
        level = nxt
    return bool(level)


def _alien(data: Any) -> str | None:
    """The first value that is not a JSON type (a YAML ``!!binary``, ``!!set``...), as its type name."""
    stack = [data]
    while stack:
        node = stack.pop()
        if type(node) is dict:
            if bad := next((k for k in node if not isinstance(k, _SCALARS)), None):
                return type(bad).__name__
            stack += node.values()
        elif type(node) is list:
            stack += node
        elif not isinstance(node, _SCALARS):
            return type(node).__name__
    return None


def _json(source: Source, url: str, content: bytes, content_type: str) -> Any:
    if "html" in content_type.lower() or content.lstrip()[:1] == b"<":
        raise SourceError(
            source.name, f"got an HTML page instead of JSON from {url} (content-type {content_type or 'none'})", url
        )
    try:
        return json.loads(content)
    except (ValueError, UnicodeDecodeError) as exc:
        raise SourceError(
            source.name,
            f"malformed JSON from {url} ({str(exc)[:200]}; {len(content)} bytes received, truncated?)",
            url,
        ) from None
    except RecursionError:
        raise _too_deep(source, url, "JSON") from None


def _csv(source: Source, url: str, content: bytes, content_type: str) -> Any:
    try:
        return list(csv.DictReader(io.StringIO(content.decode("utf-8-sig"))))
    except (UnicodeDecodeError, csv.Error) as exc:
        raise SourceError(source.name, f"unreadable CSV from {url}: {exc}", url) from None


def _yaml(source: Source, url: str, content: bytes, content_type: str = "") -> Any:
    try:
        data = yaml.load(content.decode("utf-8-sig"), Loader=_BodyLoader)  # noqa: S506 (a SafeLoader)
    except (UnicodeDecodeError, yaml.YAMLError, ValueError) as exc:  # ValueError: an int past 4,300 digits
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}: " if mark else ""
        what = getattr(exc, "problem", None) or (str(exc).splitlines() or [type(exc).__name__])[0]
        raise SourceError(source.name, f"unreadable YAML from {url}: {where}{what[:200]}", url) from None
    except RecursionError:
        raise _too_deep(source, url, "YAML") from None
    alien = _alien(data)
    if alien is not None:
        raise _fail(source, url, f"YAML with a {alien} value (not a JSON type)")
    return data


def _tar_gz(source: Source, url: str, content: bytes, content_type: str = "") -> list[dict[str, Any]]:
    spec = source.archive or {}
    pattern, join = spec.get("members", "*.json"), spec.get("join", {})
    spent = [0]
    try:
        with tarfile.open(fileobj=io.BytesIO(_gunzip(source, url, content)), mode="r:") as archive:
            files: dict[str, tarfile.TarInfo] = {}
            for m in archive.getmembers():
                if m.isfile() and m.size <= MAX_MEMBER_BYTES:
                    if m.name in files:
                        raise _fail(source, url, f"an archive with member {echo(m.name)} twice (which one is true?)")
                    files[m.name] = m
            records = []
            for name in sorted(files):
                if not fnmatchcase(name, pattern):
                    continue
                record = _member(archive, files[name], url, source, spent)
                if not isinstance(record, dict):
                    continue
                folder = posixpath.dirname(name)
                for key, sibling in join.items():
                    path = posixpath.join(folder, sibling)
                    record[key] = _member(archive, files[path], url, source, spent) if path in files else None
                records.append(record)
    except (tarfile.TarError, OSError, EOFError) as exc:
        raise SourceError(source.name, f"unreadable tar.gz archive from {url} ({exc}; truncated?)", url) from None
    if not records:
        raise SourceError(source.name, f"no member of the archive from {url} matches {pattern!r}", url)
    return records


def _gunzip(source: Source, url: str, content: bytes) -> bytes:
    """The archive inflated, within the source's body limit: a small archive can inflate to
    gigabytes (a tar bomb), so the inflated size is counted as it grows and cut at the limit."""
    limit = source.max_body or settings.DEFAULT_MAX_BODY_BYTES
    inflate, out, size = zlib.decompressobj(wbits=31), [], 0  # 31: gzip framing
    try:
        for start in range(0, len(content), 1 << 16):
            chunk = content[start : start + (1 << 16)]
            while chunk:
                piece = inflate.decompress(chunk, 1 << 20)
                size += len(piece)
                if size > limit:
                    raise SourceError(
                        source.name,
                        f"the archive from {url} inflates beyond the {limit:,} bytes limit; nothing kept; "
                        f"if it is genuine, raise sources.{source.name}.max_body",
                        url,
                    )
                out.append(piece)
                chunk = inflate.unconsumed_tail
        out.append(inflate.flush())
    except zlib.error as exc:
        raise SourceError(source.name, f"unreadable tar.gz archive from {url} ({exc}; truncated?)", url) from None
    return b"".join(out)


def _member(archive: tarfile.TarFile, info: tarfile.TarInfo, url: str, source: Source, spent: list[int]) -> Any:
    handle = archive.extractfile(info)
    data = handle.read() if handle else b""
    at = f"{url} (member {info.name})"
    fmt = "yaml" if info.name.endswith((".yaml", ".yml")) else "json"
    spent[0] = check_budget(source, at, fmt, data, spent[0])
    try:
        return (_yaml if fmt == "yaml" else _json)(source, at, data, "")
    except SourceError as exc:
        raise SourceError(source.name, f"archive member {info.name} does not parse: {exc.detail}", url) from None


#: format name (a source's ``format``, the schema's enum) -> parser(source, url, body, content type)
FORMATS: dict[str, Callable[[Source, str, bytes, str], Any]] = {
    "json": _json,
    "csv": _csv,
    "yaml": _yaml,
    "tar.gz": _tar_gz,
}


def parse(source: Source, url: str, content: bytes, content_type: str = "") -> Any:
    """A 200 body of ``source.format`` as data, or a SourceError saying what is wrong with it."""
    parser = FORMATS.get(source.format)
    if parser is None:
        raise SourceError(source.name, f"unknown format {source.format!r} for {url}", url)
    if source.format in BYTES_PER_VALUE:  # an archive counts each member as it is read
        check_budget(source, url, source.format, content)
    body = parser(source, url, content, content_type)
    if too_deep(body):
        raise _too_deep(source, url, source.format.upper())
    return body
