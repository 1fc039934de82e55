"""`kashif serve`: the HTTP service (serve.http.server)."""
from __future__ import annotations

import argparse

from kashif.commands._flags import add_arguments_with_models, from_args_with_models
from kashif.commands._run import run_command
from kashif.serve.http.settings import ServeSettings


def serve_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="kashif serve",
        description="Serve NER, stance and text classification over HTTP. Flags default to KASHIF_* environment variables; "
        "API keys come from KASHIF_API_KEYS (comma-separated) and/or --api-key-file.",
    )
    add_arguments_with_models(parser, ServeSettings)
    return parser


def settings_from_args(args: argparse.Namespace) -> ServeSettings:
    """ServeSettings from parsed `serve_parser` flags."""
    return from_args_with_models(ServeSettings, args)


def run(argv: list[str]) -> int:
    # ValueError: a setting out of range, from a flag or a KASHIF_* variable
    return run_command("serve", lambda: _serve(argv), usage_errors=(ValueError,))


def _serve(argv: list[str]) -> int:
    from kashif.serve.http.server import run_server

    return run_server(settings_from_args(serve_parser().parse_args(argv)))
