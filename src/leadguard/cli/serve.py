"""``leadguard serve``: the REST API and web UI (uvicorn), with the face model, quality
policy and vector index kept resident between requests."""

from __future__ import annotations

import logging
from typing import Annotated

import typer

from leadguard.cli.common import WorkspaceOpt, handles_errors, open_ctx

log = logging.getLogger(__name__)


@handles_errors
def serve(
    host: Annotated[
        str, typer.Option(help="Address to listen on (default: this machine only).")
    ] = ("127.0.0.1"),
    port: Annotated[int, typer.Option(min=1, max=65535)] = 8000,
    no_secure_cookie: Annotated[
        bool,
        typer.Option(
            "--no-secure-cookie",
            help="Send the login cookie over plain HTTP too (a trusted network only; by "
            "default it is Secure: HTTPS, or http://localhost).",
        ),
    ] = False,
    login_limit: Annotated[
        int, typer.Option(min=1, help="Login attempts per minute per client and per user.")
    ] = 10,
    workspace: WorkspaceOpt = None,
) -> None:
    """Serve the API (/api, schema at /api/openapi.json) and the web UI on one port. Accounts
    and logins are the workspace's own (`leadguard user add`)."""
    import uvicorn

    from leadguard.server.app import create_app

    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    ctx = open_ctx(workspace)
    app = create_app(ctx, secure_cookies=not no_secure_cookie, login_limit=login_limit)
    log.info("LeadGuard serving %s on http://%s:%d", ctx.root, host, port)
    try:
        # proxy_headers=False: uvicorn would otherwise take the client's address from
        # X-Forwarded-For when the peer is 127.0.0.1; the login limit reads that header
        # itself, and only from the workspace's trusted_proxies (server/auth.client_address)
        uvicorn.run(app, host=host, port=port, workers=1, log_level="info", proxy_headers=False)
    finally:
        ctx.close()
