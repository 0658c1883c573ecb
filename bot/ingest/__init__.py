"""Ingest: HTTP fetch -> feed parse -> normalisation. Knows nothing of Discord or the store.

- `fetch.Fetcher` / `fetch.FetchLimits`: bounded, conditional HTTP with manual redirects;
  `allow_private=False` adds the SSRF guard on every hop and at connect time.
- `urlsafety.check_public_url`: the accept-time SSRF check for user-typed URLs.
- `parse.parse_feed`: pure, picklable; run it in a process pool, not on the event loop.
- `normalize`: canonical URLs, HTML to text, title normalisation, article identity.

Test-only hooks (explicit keyword arguments, never used in production paths):
`Fetcher(allowed_hosts=..., resolver=...)` and `check_public_url(resolver=...)`.
"""
