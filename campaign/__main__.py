"""The `campaign` console script (also `python -m campaign`): Flask's CLI on the app factory."""
from __future__ import annotations

import sys
from typing import Any

import click
from flask.cli import FlaskGroup, ScriptInfo, run_command

from . import create_app
from .cli import worker_alongside
from .config import ConfigError


@click.command("run", params=run_command.params, help=run_command.help)
@click.pass_context
def run_with_worker(ctx: click.Context, **kwargs: Any) -> None:
    """Flask's development server, with a worker alongside (email and PDFs)."""
    with worker_alongside():
        ctx.forward(run_command)


class CampaignGroup(FlaskGroup):
    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        if name == "run":
            return run_with_worker
        return super().get_command(ctx, name)

    def list_commands(self, ctx: click.Context) -> list[str]:
        """Flask prints a traceback here when the app fails to load; a bad setting gets one line."""
        try:
            ctx.ensure_object(ScriptInfo).load_app()
        except ConfigError:
            raise
        except Exception:  # noqa: S110 - Flask's own list_commands reports anything else
            pass
        return super().list_commands(ctx)

    def main(self, *args: Any, **kwargs: Any) -> Any:
        try:
            return super().main(*args, **kwargs)
        except ConfigError as exc:
            click.echo(f"Error: {exc}", err=True)
            sys.exit(2)


main = CampaignGroup(create_app=create_app, help="Campaign: coalition sign-on letters.")

if __name__ == "__main__":
    main()
