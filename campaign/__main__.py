"""The `campaign` console script: Flask's CLI bound to the app factory (also `python -m campaign`)."""
from __future__ import annotations

import sys
from typing import Any

import click
from flask.cli import FlaskGroup, run_command

from . import create_app
from .cli import worker_alongside
from .config import ConfigError


@click.command("run", params=run_command.params, help=run_command.help)
@click.pass_context
def run_with_worker(ctx: click.Context, **kwargs: Any) -> None:
    """Flask's development server, with a mail worker alongside."""
    with worker_alongside():
        ctx.forward(run_command)


class CampaignGroup(FlaskGroup):
    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        if name == "run":
            return run_with_worker
        return super().get_command(ctx, name)

    def main(self, *args: Any, **kwargs: Any) -> Any:
        try:
            return super().main(*args, **kwargs)
        except ConfigError as exc:
            click.echo(f"Error: {exc}", err=True)
            sys.exit(2)


main = CampaignGroup(create_app=create_app, help="Campaign: coalition sign-on letters.")

if __name__ == "__main__":
    main()
