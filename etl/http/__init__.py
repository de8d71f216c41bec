"""The HTTP layer, by job: the cache (fetch), the wire (transport), pace and retries (policy),
body formats and their bounds (formats), records and paging (documents), cassettes into the cache."""
