"""Sources whose files another source lists (``listed_by``): a Hugging Face repo's
``.eval_results/*.yaml``, named in its model_info ``siblings``. Which files, and the checks on the
declaration; extract and transform read the listing document from the cache (etl/extract.py)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .validation import suggest

if TYPE_CHECKING:
    from .mappings import Source

#: the key each row of a listed source's files gets: the file it came from (for provenance)
FILE_KEY = "_file"


@dataclass(frozen=True)
class Listing:
    """Where a per-model source's files are listed (schema: ``$defs.source.properties.listed_by``):
    the values of ``path`` in the ``source``'s document that ``matches`` accepts fill ``{file}``."""

    source: str
    path: Any
    matches: re.Pattern[str] | None

    def files(self, document: Any) -> list[str]:
        """The listed file names, in document order, each once. A name with an empty, '.' or '..'
        segment, or a leading '/', could leave the repo: it is never a file of it."""
        out: list[str] = []
        for match in self.path.find(document) if self.path is not None else []:
            name = match.value
            if not isinstance(name, str) or name in out or not _inside(name):
                continue
            if self.matches is None or self.matches.search(name):
                out.append(name)
        return out


def _inside(name: str) -> bool:
    return not name.startswith("/") and all(part not in ("", ".", "..") for part in name.split("/"))


def listing_problems(sources: dict[str, Source], origin: dict[str, Path], problems: list[str]) -> None:
    """A listed source names a declared per-model source, and its URL has {file} to put a file in."""
    for name, source in sources.items():
        listing = source.listed_by
        if listing is None:
            continue
        at = f"{origin[name]}: sources.{name}"
        parent = sources.get(listing.source)
        if parent is None:
            problems.append(
                f"{at}.listed_by.source: unknown source '{listing.source}': {suggest(listing.source, sources)}"
            )
        elif parent.scope != "per_model" or parent.listed_by is not None:
            problems.append(
                f"{at}.listed_by.source: '{listing.source}' must be a per_model source that is not listed itself"
            )
        if source.scope != "per_model" or "file" not in source.placeholders:
            problems.append(f"{at}.url: a listed source is per_model and its url has a {{file}} placeholder")
