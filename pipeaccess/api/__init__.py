"""The REST API, /api/v1/ (CONTRACT.md): the same objects and per-object rules as the pages."""
