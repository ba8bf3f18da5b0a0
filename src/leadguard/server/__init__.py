"""The server: a REST API and a server-rendered web UI over the same services as the CLI.

No business logic and no ORM here: every route authenticates, parses, calls one service
and renders. Errors map to status codes in ``errors.py`` only."""
