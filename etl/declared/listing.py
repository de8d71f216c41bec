"""Sources whose files another source lists (``listed_by``): a Hugging Face repo's
``.eval_results/*.yaml``, named in its model_info ``siblings``. Which files, and the checks on the
declaration; extract and transform read the listing document from the cache (etl/extract.py)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .. import settings
from .validation import suggest

if TYPE_CHECKING:
    from .mappings import Source

#: the key each row of a listed source's files gets: the file it came from (for provenance)
FILE_KEY = "_file"


class TooManyListed(Exception):
    """A document lists more files than ``max_files``: none is fetched (each would be a request
    sent with the user's key), and the model's value from this source fails with the count."""

    def __init__(self, count: int, cap: int):
        self.count, self.cap = count, cap
        super().__init__(f"{count} files listed, more than max_files ({cap})")


@dataclass(frozen=True)
class Listing:
    """Where a per-model source's files are listed (schema: ``$defs.source.properties.listed_by``):
    the values of ``path`` in the ``source``'s document that ``matches`` accepts fill ``{file}``,
    at most ``max_files`` of them per model."""

    source: str
    path: Any
    matches: re.Pattern[str] | None
    max_files: int = settings.DEFAULT_MAX_LISTED_FILES

    def files(self, document: Any) -> list[str]:
        """The listed file names, in document order, each once. A name with an empty, '.' or '..'
        segment, or a leading '/', could leave the repo: it is never a file of it. More than
        ``max_files`` raises TooManyListed (the count is the whole list's, not the first N's)."""
        out: list[str] = []
        for match in self.path.find(document) if self.path is not None else []:
            name = match.value
            if not isinstance(name, str) or name in out or not _inside(name):
                continue
            if self.matches is None or self.matches.search(name):
                out.append(name)
        if len(out) > self.max_files:
            raise TooManyListed(len(out), self.max_files)
        return out


def listing_of(raw: dict[str, Any], path: Any, matches: re.Pattern[str] | None) -> Listing:
    """A ``listed_by`` declaration (schema-checked) with its path and regex compiled by the caller."""
    return Listing(raw["source"], path, matches, raw.get("max_files", settings.DEFAULT_MAX_LISTED_FILES))


def _inside(name: str) -> bool:
    return not name.startswith("/") and all(part not in ("", ".", "..") for part in name.split("/"))


def listing_problems(
    sources: dict[str, Source], origin: dict[str, Path], problems: list[str], broken: frozenset[str] = frozenset()
) -> None:
    """A listed source names a declared per-model source, and its URL has {file} to put a file in
    (``broken``: declared with a block the schema refused, already reported)."""
    for name, source in sources.items():
        listing = source.listed_by
        if listing is None:
            continue
        at = f"{origin[name]}: sources.{name}"
        parent = sources.get(listing.source)
        if parent is None and listing.source not in broken:
            problems.append(
                f"{at}.listed_by.source: unknown source '{listing.source}': {suggest(listing.source, sources)}"
            )
        elif parent is not None and (parent.scope != "per_model" or parent.listed_by is not None):
            problems.append(
                f"{at}.listed_by.source: '{listing.source}' must be a per_model source that is not listed itself"
            )
        if source.scope != "per_model" or "file" not in source.placeholders:
            problems.append(f"{at}.url: a listed source is per_model and its url has a {{file}} placeholder")
