"""Local HTTP simulators of upstream APIs, for tests, `make demo` and `make bench`.

Each simulator serves real HTTP on loopback so connectors are exercised end to end (sockets,
pagination, rate limits, retries). ``server.py`` holds the shared machinery; one module per
upstream (``github.py`` …) holds its data model and endpoints. Run one in the foreground with
``python -m connectors.simulators KIND --help``.
"""
