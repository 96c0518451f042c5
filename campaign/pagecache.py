"""Public pages kept in each process, under a key of everything they show.

The public list, its JSON and the letter page with a blank sign form are the same for every
anonymous visitor (but for the form's CSRF token) until what they show changes; each process
keeps the last ones it made (a few megabytes at most) and answers from them, one for each
language of the interface. A key names
everything the output depends on, so a kept page is never stale: the list's key holds the
letter's last change and the revision of each scope of its list, which the database's triggers
bump in the same transaction as any change of a listed signature (listing.state). Nothing else
is kept: a page for an organizer, or with a message to show, is made each time.
"""
from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Generic, TypeVar

from flask import session
from flask_login import current_user

from .i18n import current_language

T = TypeVar("T")
PLACEHOLDER = "\x00csrf\x00"  # stands for the CSRF token in a kept form


class Kept(Generic[T]):
    """The `size` outputs last made, by key (least recently used goes first)."""

    def __init__(self, size: int) -> None:
        self.size = size
        self._items: OrderedDict[Hashable, T] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: Hashable, make: Callable[[], T]) -> T:
        with self._lock:
            if key in self._items:
                self._items.move_to_end(key)
                return self._items[key]
        made = make()
        with self._lock:
            self._items[key] = made
            while len(self._items) > self.size:
                self._items.popitem(last=False)
        return made

    def peek(self, key: Hashable) -> T | None:
        """The output kept under `key`, or None; made nothing."""
        with self._lock:
            if key in self._items:
                self._items.move_to_end(key)
                return self._items[key]
        return None

    def clear(self) -> None:
        with self._lock:
            self._items.clear()


PAGES: Kept[str] = Kept(256)


def shared_page() -> bool:
    """Whether this request's page is the one every anonymous visitor gets (no organizer logged
    in, no message waiting to be shown)."""
    return not current_user.is_authenticated and not session.get("_flashes")


def page(key: Hashable, make: Callable[[], str]) -> str:
    """The page under `key` in this request's language, made by make() when this process has not
    kept it."""
    return PAGES.get((key, current_language()), make) if shared_page() else make()


def page_with_token(key: Hashable, token: str, make: Callable[[], str]) -> str:
    """The page under `key` with this visitor's CSRF token `token` in it. make() writes the page
    with the token too; it is kept with a placeholder in the token's place."""
    if not shared_page():
        return make()

    def kept() -> str:
        return make().replace(token, PLACEHOLDER)

    return PAGES.get((key, current_language()), kept).replace(PLACEHOLDER, token)
