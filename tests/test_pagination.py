"""Pagination that never ends (the same page, the same ids) is a named failure."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest

from etl.declared.mappings import load_mappings
from etl.errors import SourceError

JSON = {"Content-Type": "application/json"}


def _pages(same_body: bool, same_ids: bool):
    def reply(key: str):
        page = int(key.rsplit("page=", 1)[1]) if "page=" in key else 1
        ident = "a/b" if same_ids else f"m/{page}"
        body = {"data": [{"id": ident, "slug": ident, "name": ident}], "pagination": {"has_more": True}}
        if not same_body:
            body["generated_at"] = page
        return 200, JSON, json.dumps(body).encode()

    return reply


@pytest.mark.parametrize(
    ("same_body", "same_ids", "message", "pages"),
    [
        (True, True, "the page at page=2 from {url} is identical to the one before: stopped paging after 2 pages", 2),
        (
            False,
            True,
            "the page at page=2 from {url} has no new records (all 1 ids seen on earlier pages): stopped paging after 2 pages",
            2,
        ),
        (
            False,
            False,
            "still more pages after max_pages (4) from {url}: stopped; if the catalog really is that large, "
            "raise pagination.max_pages of artificial_analysis in sources.yaml",
            4,
        ),
    ],
    ids=["identical", "no-new-records", "max-pages"],
)
def test_pagination_that_never_ends_is_a_named_failure(server, make, same_body, same_ids, message, pages):
    server.dynamic.append(_pages(same_body, same_ids))
    fetcher, source, _ = make(server, "artificial_analysis", "/api/v2/language/models/free", key="k-0123456789")
    source = replace(source, pagination={**load_mappings().sources["artificial_analysis"].pagination, "max_pages": 4})
    with pytest.raises(SourceError) as err:
        fetcher.documents(source, source.url)
    assert str(err.value) == "artificial_analysis: " + message.format(url=source.url)
    assert server.count() == pages
