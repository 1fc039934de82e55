"""The HTTP service on uvicorn: what `kashif serve` runs once its settings are read."""
from __future__ import annotations

import logging
import signal

from kashif.model.errors import EXIT_FAILURE, KashifError
from kashif.serve.http.settings import ServeSettings


class ServerError(KashifError):
    """The service could not start serving (e.g. its models failed to load in the inference process)."""

    exit_code = EXIT_FAILURE


def run_server(settings: ServeSettings) -> int:
    """Serve until SIGTERM/SIGINT (then exit 0), after a graceful shutdown; EXIT_FAILURE when uvicorn could not start
    (it has logged why, e.g. the port is taken)."""

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
        raise ServerError(f"the models could not be loaded: {state.load_error}")
    if not server.started:
        return EXIT_FAILURE  # uvicorn has logged why (e.g. the port is taken)
    return 0
