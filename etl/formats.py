"""Body formats beyond JSON and CSV: YAML documents and tar.gz archives of JSON files.

An archive becomes a list of records: one per member matching the source's ``archive.members``
glob, its sibling files (``archive.join``) parsed and stored under their keys. So a repository
snapshot (LLM Stats: ``model.json`` + ``benchmarks.json`` per model) is one request and one
record per model, and every JSONPath of the mappings reads it like any other catalog.
"""

from __future__ import annotations

import io
import json
import posixpath
import tarfile
import zlib
from fnmatch import fnmatchcase
from typing import Any

import yaml

from . import settings
from .errors import SourceError
from .mappings import Source

#: members larger than this are not read (a data file of a leaderboard is far smaller)
MAX_MEMBER_BYTES = 20_000_000


class _Loader(yaml.SafeLoader):
    """SafeLoader without the timestamp rule: a `date: 2025-02-25` stays the string the file says,
    so raw values stay JSON-serialisable for provenance."""


#: the same rules on libyaml's parser when present (~10x faster on a catalog; the pure loader
#: still reads a body libyaml refuses, so its error message is the one users see)
_FastLoader = type("_FastLoader", (getattr(yaml, "CSafeLoader", yaml.SafeLoader),), {})
_Loader.yaml_implicit_resolvers = _FastLoader.yaml_implicit_resolvers = {
    first: [(tag, regex) for tag, regex in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


def _load(text: str) -> Any:
    try:
        return yaml.load(text, Loader=_FastLoader)  # noqa: S506 (a SafeLoader)
    except yaml.YAMLError:
        return yaml.load(text, Loader=_Loader)  # noqa: S506 (a SafeLoader)


def parse(source: Source, url: str, content: bytes) -> Any:
    """Parse a 200 body of ``source.format`` (yaml or tar.gz), or raise SourceError."""
    if source.format == "yaml":
        try:
            return _load(content.decode("utf-8-sig"))
        except (UnicodeDecodeError, yaml.YAMLError) as exc:
            detail = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            raise SourceError(source.name, f"unreadable YAML from {url}: {detail}", url) from None
    if source.format == "tar.gz":
        return _archive_records(source, url, content)
    raise SourceError(source.name, f"unknown format {source.format!r} for {url}", url)


def _archive_records(source: Source, url: str, content: bytes) -> list[dict[str, Any]]:
    spec = source.archive or {}
    pattern, join = spec.get("members", "*.json"), spec.get("join", {})
    try:
        with tarfile.open(fileobj=io.BytesIO(_gunzip(source, url, content)), mode="r:") as archive:
            files = {m.name: m for m in archive.getmembers() if m.isfile() and m.size <= MAX_MEMBER_BYTES}
            records = []
            for name in sorted(files):
                if not fnmatchcase(name, pattern):
                    continue
                record = _member(archive, files[name], url, source)
                if not isinstance(record, dict):
                    continue
                folder = posixpath.dirname(name)
                for key, sibling in join.items():
                    path = posixpath.join(folder, sibling)
                    record[key] = _member(archive, files[path], url, source) if path in files else None
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


def _member(archive: tarfile.TarFile, info: tarfile.TarInfo, url: str, source: Source) -> Any:
    handle = archive.extractfile(info)
    data = handle.read() if handle else b""
    try:
        if info.name.endswith((".yaml", ".yml")):
            return _load(data.decode("utf-8-sig"))
        return json.loads(data)
    except (ValueError, UnicodeDecodeError, yaml.YAMLError) as exc:
        raise SourceError(source.name, f"archive member {info.name} from {url} does not parse ({exc})", url) from None
