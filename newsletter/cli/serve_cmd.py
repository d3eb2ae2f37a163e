"""``newsletter serve``: the web app (signup, unsubscribe, webhook, previews) on uvicorn.

Registered on the root app as ``app.command("serve")(serve_cmd.serve)``. The app is
named by import string, not imported: faces never import each other.
"""

from __future__ import annotations

from typing import Annotated, Any

import typer

from newsletter.cli.common import console, engine, settings
from newsletter.logs import setup_logging

WEB_APP_FACTORY = "newsletter.web:serve_app"
# uvicorn's loggers keep no handlers of their own and pass every record (access log
# included) to the root handler of ``newsletter.logs``, which formats and masks it.
UVICORN_LOG_CONFIG: dict[str, Any] = {
    "version": 1,
    "disable_existing_loggers": False,
    "loggers": {
        name: {"handlers": [], "propagate": True}
        for name in ("uvicorn", "uvicorn.error", "uvicorn.access")
    },
}


def serve(
    host: Annotated[str, typer.Option("--host", help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[
        int, typer.Option("--port", min=1, max=65535, help="TCP port to listen on.")
    ] = 8000,
    workers: Annotated[
        int,
        typer.Option(
            "--workers",
            min=1,
            max=64,
            help="Worker processes sharing the port; rate limits are kept in the database.",
        ),
    ] = 1,
) -> None:
    """Run the web app: signup form, confirm and unsubscribe links, SendGrid webhook.

    With ``--workers N`` uvicorn starts N processes that each build the app from the
    same settings; every limit is counted in the database, so they enforce one limit.
    """
    import uvicorn  # only this command needs the web server

    cfg = settings()
    setup_logging(cfg)
    # Fail here with a clear message (exit 1) rather than inside uvicorn's loader.
    cfg.signing_key()
    engine(cfg).dispose()
    if cfg.secret_key_from_file:
        console.print(
            "[yellow]note:[/yellow] NEWSLETTER_SECRET_KEY is not set: using the demo key "
            "that `newsletter quickstart` wrote to var/secret_key.",
            markup=True,
        )
    if not cfg.sendgrid_webhook_public_key:
        console.print(
            "[yellow]note:[/yellow] NEWSLETTER_SENDGRID_WEBHOOK_PUBLIC_KEY is not set; "
            "the event webhook will answer 503.",
            markup=True,
        )
    if not cfg.admin_token:
        console.print(
            "[yellow]note:[/yellow] NEWSLETTER_ADMIN_TOKEN is not set; previews are disabled.",
            markup=True,
        )
    plural = f" with {workers} workers" if workers > 1 else ""
    console.print(f"Serving {cfg.public_url} on http://{host}:{port}{plural} (Ctrl+C to stop)")
    uvicorn.run(
        WEB_APP_FACTORY,
        # An import string, not an app object: each worker process builds its own app.
        factory=True,
        workers=workers,
        host=host,
        port=port,
        # Behind a reverse proxy on this host, X-Forwarded-For gives the client's address
        # (the signup rate limit is per client).
        proxy_headers=True,
        forwarded_allow_ips="127.0.0.1",
        log_level=cfg.log_level.lower(),
        log_config=UVICORN_LOG_CONFIG,
        server_header=False,
    )
