"""Load vcrpy cassettes into the store, so offline runs (the README demo, tests) replay them.

Why not replay vcrpy *through* the CachedSession? vcrpy's ``VCRHTTPResponse`` lacks the
``_request_url`` that requests-cache reads (vcrpy issue #881). Of the known workarounds we take
the one that keeps both libraries unpatched: vcrpy's own persister parses the cassette, and each
recorded 200 is saved into the requests-cache backend as an ordinary ``requests.Response`` (a 3xx
followed by its target becomes a redirect alias). Another status is noted in the fetches table
as the source's declared ``not_found`` or as a failure, as a live run would. A recorded ``Date``
header becomes the response's fetch time, so provenance shows when the data was recorded, not
when it was imported.
"""

from __future__ import annotations

import io
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import Any

import requests
from requests.structures import CaseInsensitiveDict
from requests_cache.models import CachedResponse
from urllib3 import HTTPResponse
from vcr.persisters.filesystem import FilesystemPersister
from vcr.serializers import yamlserializer

from ..declared.sources import Sources
from ..errors import UsageError
from ..results.outcomes import FetchOutcome
from ..store.store import Store
from ..store.storefile import store_errors
from .fetch import open_session


def _response(uri: str, method: str, recorded: dict) -> requests.Response:
    response = requests.Response()
    response.status_code = recorded["status"]["code"]
    response.reason = recorded["status"].get("message", "")
    body = recorded["body"]["string"]
    response._content = body if isinstance(body, bytes) else str(body).encode("utf-8")
    response.headers = CaseInsensitiveDict({k: ", ".join(v) for k, v in (recorded.get("headers") or {}).items()})
    response.headers.pop("Content-Encoding", None)  # bodies in cassettes are already decoded
    response.url = uri
    response.request = requests.Request(method, uri).prepare()
    # requests-cache copies the body and URL from the urllib3 response, as for a live one
    response.raw = HTTPResponse(
        body=io.BytesIO(response._content),
        headers=dict(response.headers),
        status=response.status_code,
        reason=response.reason,
        preload_content=False,
        request_url=uri,
    )
    return response


def recorded_at(response: requests.Response) -> datetime | None:
    """The recording's time, from its Date header, if it has a valid one."""
    try:
        when = parsedate_to_datetime(response.headers.get("Date", ""))
    except (TypeError, ValueError, IndexError):
        return None
    return when if when.tzinfo else when.replace(tzinfo=UTC)


def _load(path: Path) -> tuple[list, list]:
    try:
        return FilesystemPersister.load_cassette(str(path), yamlserializer)
    except Exception as exc:  # vcrpy raises ValueError/CassetteNotFoundError/yaml errors
        raise UsageError(f"{path}: not a readable vcrpy cassette ({type(exc).__name__}); pass cassette files") from None


def import_cassettes(paths: list[Path], store_path: Path, ttl_hours: float, sources: Sources) -> dict[str, int]:
    """Save every recorded response of ``paths`` into the store; returns counts per outcome."""
    store = Store(store_path)  # first: a damaged or read-only store is one line, before requests-cache opens it
    try:
        with store_errors(store_path):
            session = open_session(store_path, ttl_hours, sources.auth_headers)
            try:
                return _import(paths, store, session, ttl_hours, sources)
            finally:
                session.close()
    finally:
        store.close()


def _import(paths: list[Path], store: Store, session: Any, ttl_hours: float, sources: Sources) -> dict[str, int]:
    """Save each recorded 200 into requests-cache's table, each other status into ``fetches``."""
    counts = {"cached": 0, FetchOutcome.NOT_FOUND: 0, FetchOutcome.FAILED: 0, "redirects": 0}
    expires = datetime.now(UTC) + timedelta(hours=ttl_hours)
    fetch_rows = []
    for path in paths:
        requests_, responses = _load(path)
        pending: dict[str, requests.Response] = {}
        for req, rec in zip(requests_, responses, strict=False):
            response = _response(req.uri, req.method, rec)
            status = response.status_code
            if 300 <= status < 400 and response.headers.get("Location"):
                pending[requests.compat.urljoin(req.uri, response.headers["Location"])] = response
                continue
            if status == 200:
                if req.uri in pending:
                    response.history = [pending.pop(req.uri)]
                    counts["redirects"] += 1
                cached = CachedResponse.from_response(response, expires=expires)
                cached.created_at = recorded_at(response) or cached.created_at
                session.cache.save_response(cached, expires=expires)
                counts["cached"] += 1
                continue
            source = sources.source_for(req.uri)
            outcome = FetchOutcome.NOT_FOUND if source and status in source.not_found else FetchOutcome.FAILED
            counts[outcome] += 1
            fetch_rows.append(
                {
                    "url": response.request.url,
                    "source": source.name if source else "(cassette)",
                    "status": status,
                    "outcome": outcome,
                    "message": f"HTTP {status} recorded in {path.name}",
                    "at": (recorded_at(response) or datetime.now(UTC)).isoformat(timespec="seconds"),
                }
            )
    store.record_fetches(fetch_rows)
    return counts
