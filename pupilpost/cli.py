"""The `pupilpost` command: run one service, or the whole platform embedded."""
from __future__ import annotations

import importlib
import os
import sys
from pathlib import Path

import click

from pupilpost.extract import extract_command, keys_command
from pupilpost.settings import SERVICES
from services.classifier.cli import classify_command, classify_eval_command


@click.group()
def main() -> None:
    """Pupilpost: school-to-parent messaging without leaking pupils' personal data."""


@main.command()
@click.argument("service", type=click.Choice(SERVICES))
def run(service: str) -> None:
    """Run one service in the foreground (configuration from environment variables only)."""
    from pupilpost import eventloop, runner

    module = importlib.import_module(f"services.{service}.main")
    try:
        svc = module.create()
    except Exception as exc:  # settings validation: say which variable, not a traceback
        click.echo(f"{service}: bad configuration: {exc}", err=True)
        sys.exit(2)
    sys.exit(eventloop.run(runner.serve(svc)))


@main.command()
@click.option("--port", type=int, default=lambda: int(os.environ.get("PUPILPOST_PORT", "8000")),
              show_default="8000 or $PUPILPOST_PORT", help="Port of the one API base URL.")
@click.option("--data-dir", type=click.Path(path_type=Path), default=None,
              help="State directory (default .pupilpost/ or $PUPILPOST_DATA_DIR).")
def up(port: int, data_dir: Path | None) -> None:
    """Start the whole platform with embedded PostgreSQL and Kafka; Ctrl-C stops it."""
    from pupilpost import up as up_module

    sys.exit(up_module.main(port=port, data_dir=data_dir))


main.add_command(extract_command)
main.add_command(keys_command)
main.add_command(classify_command)
main.add_command(classify_eval_command)

if __name__ == "__main__":
    main()
