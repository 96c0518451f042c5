"""How the long commands (import-signatures, export-csv) show their progress: a progress bar on
standard error when it is a terminal; elsewhere (a log, a pipe, cron) an import writes a line
about every tenth of the way, on standard error too, so that standard output keeps only what
the command made."""
from __future__ import annotations

import sys
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from typing import TypeVar

import click
from flask_babel import format_number
from flask_babel import gettext as _

T = TypeVar("T")
Update = Callable[[int], None]  # (how many are done so far)


def on_terminal() -> bool:
    """Whether standard error is a terminal (a person watching, not a log)."""
    try:
        return sys.stderr.isatty()
    except (AttributeError, ValueError):  # closed or replaced by something without a tty
        return False


@contextmanager
def progress(total: int, label: str, line: Callable[[int, int], str] | None = None
             ) -> Iterator[Update]:
    """An update(done) function for work of `total` steps: on a terminal it moves a bar with
    `label`; elsewhere it writes line(done, total) about every tenth of the way (nothing, without
    `line`)."""
    if on_terminal() and total > 0:
        with click.progressbar(length=total, label=label, file=sys.stderr, show_pos=True,
                               show_percent=True, show_eta=True) as bar:
            def move(done: int) -> None:
                bar.update(done - bar.pos)

            yield move
        return
    shown = [0]

    def write(done: int) -> None:
        if line is None:
            return
        if done - shown[0] >= max(1, total // 10) or (done == total and shown[0] != total):
            shown[0] = done
            click.echo(line(done, total), err=True)

    yield write


def written(done: int, total: int) -> str:
    """A line of an import's progress."""
    return _("Written %(done)s of %(total)s rows", done=format_number(done),
             total=format_number(total))


def counted(items: Iterable[T], update: Update, every: int = 500) -> Iterator[T]:
    """The items as they are, calling update() with how many have passed, every `every` items
    and at the end."""
    done = 0
    for item in items:
        yield item
        done += 1
        if done % every == 0:
            update(done)
    update(done)
