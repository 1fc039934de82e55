"""`kashif serve`: the HTTP service."""
from __future__ import annotations

import argparse
import logging
import signal

from kashif.command import fail, run_command
from kashif.model.errors import EXIT_FAILURE


def _parser() -> argparse.ArgumentParser:
    from kashif.model.cli import add_model_arguments
    from kashif.serve.http.settings import add_serve_arguments

    parser = argparse.ArgumentParser(
        prog="kashif serve",
        description="Serve NER, stance and text classification over HTTP. Flags default to KASHIF_* environment variables; "
        "API keys come from KASHIF_API_KEYS (comma-separated) and/or --api-key-file.",
    )
    add_model_arguments(parser)
    add_serve_arguments(parser)
    return parser


def serve(argv: list[str]) -> int:
    from kashif.serve.http.settings import settings_from_args

    args = _parser().parse_args(argv)  # a malformed KASHIF_* variable is a ValueError
    settings = settings_from_args(args)
    # Cheap checks before binding the port: a wrong path fails here, in one line.
    settings.resolve()

    import uvicorn

    from kashif.serve.http.app import create_app
    from kashif.serve.http.connections import guarded_protocol

    logging.basicConfig(level=settings.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    app = create_app(settings)
    config = uvicorn.Config(
        app,
        host=settings.host,
        port=settings.port,
        log_level=settings.log_level,
        access_log=False,  # serve.http.middleware.request_id logs each request with its request ID
        timeout_graceful_shutdown=int(settings.request_timeout_s) + 5,
        # httptools, with the read deadline and the connection cap (serve.http.connections)
        http=guarded_protocol(settings.read_timeout_s, settings.max_connections, app.state.kashif.metrics),
        server_header=False,  # no "server: uvicorn" on every answer
    )
    server = uvicorn.Server(config)
    state = app.state.kashif

    def stop() -> None:
        server.should_exit = True

    state.on_fatal = stop
    # uvicorn re-raises SIGTERM/SIGINT after its graceful shutdown; with these
    # handlers in place that re-raise is a no-op, so a graceful stop exits 0.
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda signum, frame: None)
    server.run()
    if state.load_error:
        return fail("serve", f"the models could not be loaded: {state.load_error}", EXIT_FAILURE)
    if not server.started:
        return EXIT_FAILURE  # uvicorn has logged why (e.g. the port is taken)
    return 0


def run(command: str, argv: list[str]) -> int:
    if command == "serve":
        # ValueError: a setting out of range, from a flag or a KASHIF_* variable
        return run_command(command, lambda: serve(argv), usage_errors=(ValueError,))
    raise ValueError(f"kashif.serve.http.cli cannot run {command!r}")
