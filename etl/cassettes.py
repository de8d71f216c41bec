"""Load vcrpy cassettes into the store, so offline runs (the README demo, tests) replay them.

Why not replay vcrpy *through* the CachedSession? vcrpy's ``VCRHTTPResponse`` lacks the
``_request_url`` that requests-cache reads (vcrpy issue #881). Of the known workarounds we take
the one that keeps both libraries unpatched: vcrpy's own persister parses the cassette, and each
recorded 200 is saved into the requests-cache backend as an ordinary ``requests.Response`` (a 3xx
followed by its target becomes a redirect alias; 401/403/404 are noted as 'not found' in the
fetches table, like a live run would). Offline transform then reads them like any cached response.
"""

from __future__ import annotations

import io
from datetime import datetime, timedelta, timezone
from pathlib import Path

import requests
from requests.structures import CaseInsensitiveDict
from urllib3 import HTTPResponse
from vcr.persisters.filesystem import FilesystemPersister
from vcr.serializers import yamlserializer

from .errors import UsageError
from .fetch import open_session
from .store import Store


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


def import_cassettes(paths: list[Path], store_path: Path, ttl_hours: float, auth_headers: list[str]) -> dict[str, int]:
    """Save every recorded response of ``paths`` into the store; returns counts per outcome."""
    session = open_session(store_path, ttl_hours, auth_headers)
    store = Store(store_path)
    counts = {"cached": 0, "not_found": 0, "failed": 0, "redirects": 0}
    expires = datetime.now(timezone.utc) + timedelta(hours=ttl_hours)
    fetch_rows = []
    try:
        for path in paths:
            try:
                requests_, responses = FilesystemPersister.load_cassette(str(path), yamlserializer)
            except Exception as exc:  # vcrpy raises ValueError/CassetteNotFoundError/yaml errors
                raise UsageError(
                    f"{path}: not a readable vcrpy cassette ({type(exc).__name__}); pass cassette files"
                ) from None
            pending: dict[str, requests.Response] = {}
            for req, rec in zip(requests_, responses, strict=False):
                response = _response(req.uri, req.method, rec)
                status = response.status_code
                if 300 <= status < 400 and response.headers.get("Location"):
                    target = requests.compat.urljoin(req.uri, response.headers["Location"])
                    pending[target] = response
                    continue
                if status == 200:
                    if req.uri in pending:
                        response.history = [pending.pop(req.uri)]
                        counts["redirects"] += 1
                    session.cache.save_response(response, expires=expires)
                    counts["cached"] += 1
                    continue
                outcome = "not_found" if status in (401, 403, 404) else "failed"
                counts[outcome] += 1
                fetch_rows.append(
                    {
                        "url": response.request.url,
                        "source": "(cassette)",
                        "status": status,
                        "outcome": outcome,
                        "message": f"recorded in {path.name}",
                        "at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
                    }
                )
        store.record_fetches(fetch_rows)
    finally:
        session.close()
        store.close()
    return counts
