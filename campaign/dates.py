"""Dates as people type and read them, in the campaign's time zone (CAMPAIGN_TIMEZONE): the
deadline a letter file or the form gives, and the template filters that show a moment."""
from __future__ import annotations

import re
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from typing import Any

from babel import Locale
from babel.dates import format_date, format_time
from flask import Flask, current_app
from flask_babel import get_locale

from .errors import LetterError


def init_app(app: Flask) -> None:
    """The filters every template (pages, emails, the PDF) may use."""
    app.add_template_filter(local_time)
    app.add_template_filter(local_date)


def local(moment: datetime) -> datetime:
    """`moment` in the campaign's time zone; in UTC where that zone's offset would take it past
    the calendar's ends (a deadline stored as 9999-12-31 23:00 UTC, seen from Tokyo)."""
    try:
        return moment.astimezone(current_app.config["TZ"])
    except (OverflowError, ValueError):
        return moment.astimezone(UTC)


def _locale() -> Locale | None:
    """The language of the page or email being written, if not English (English keeps the
    forms people here expect; Babel's English differs in its spaces)."""
    found = get_locale()
    return None if found is None or found.language == "en" else found


def local_date(moment: datetime | None) -> str:
    """"June 30, 2026"; "30 de junio de 2026" in Spanish (Babel's long date of the locale)."""
    if moment is None:
        return ""
    day = local(moment)
    language = _locale()
    if language is not None:
        return format_date(day, "long", locale=language)
    return f"{day:%B} {day.day}, {day.year}"


def local_time(moment: datetime | None) -> str:
    """"June 30, 2026, 5:00 PM EDT"; "30 de junio de 2026, 17:00 EDT" in Spanish."""
    if moment is None:
        return ""
    when = local(moment)
    language = _locale()
    if language is not None:
        return (f"{format_date(when, 'long', locale=language)}, "
                f"{format_time(when, 'short', locale=language)} {when.strftime('%Z')}")
    return when.strftime("%B %-d, %Y, %-I:%M %p %Z")


# The moments a person may type (a deadline): any day of these years, in any time zone. Beyond
# them a date is surely a typo, and near the calendar's ends a zone's offset would take it past
# what Python and the databases can hold.
FIRST_YEAR, LAST_YEAR = 2000, 2199
EARLIEST = datetime(FIRST_YEAR, 1, 1, tzinfo=UTC) - timedelta(days=1)
LATEST = datetime(LAST_YEAR, 12, 31, 23, 59, 59, 999_999, tzinfo=UTC) + timedelta(days=1)


def parse_deadline(value: Any, zone: tzinfo, name: str = "deadline",
                   day_time: time = time.max) -> datetime | None:
    """ISO 8601 date or date-time; without a zone it is read in `zone`; a date alone means the end
    of that day (`day_time`: publish_at reads it as its start). LetterError naming `name` when it
    is none, or outside the years FIRST_YEAR to LAST_YEAR."""
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        moment = value
    elif isinstance(value, date):
        moment = datetime.combine(value, day_time)
    else:
        text = str(value).strip()
        try:
            if re.fullmatch(r"\d{4}-\d{2}-\d{2}", text):
                moment = datetime.combine(date.fromisoformat(text), day_time)
            else:
                moment = datetime.fromisoformat(text.replace(" ", "T", 1))
        except ValueError:
            raise LetterError(
                f"{name} {text!r} is not an ISO 8601 date (2026-06-30) or date-time"
            ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=zone)
    return within_range(moment, str(value).strip(), name)


def within_range(moment: datetime, typed: str, name: str = "deadline") -> datetime:
    """`moment` if its year is one a person may mean (its UTC instant comes within a day of that
    range), else LetterError saying so; never OverflowError, whatever the calendar's ends."""
    try:
        instant = moment.astimezone(UTC)
    except (OverflowError, ValueError):
        instant = None
    if instant is None or not EARLIEST <= instant <= LATEST or \
            not FIRST_YEAR <= moment.year <= LAST_YEAR:
        raise LetterError(
            f"{name} {typed!r} is not between the years {FIRST_YEAR} and {LAST_YEAR}")
    return moment


def moment_text(moment: datetime | None) -> str:
    """A moment as the form shows it and parse_deadline reads it back, in the campaign's zone."""
    if moment is None:
        return ""
    return local(moment).strftime("%Y-%m-%d %H:%M:%S" if moment.second else "%Y-%m-%d %H:%M")


def deadline_text(deadline: datetime | None) -> str:
    """A deadline as the form shows it: a date alone when it is the end of that day, so that
    saving the form again keeps it."""
    if deadline is None:
        return ""
    moment = local(deadline)
    if moment.time() == time.max:
        return moment.date().isoformat()
    return moment.strftime("%Y-%m-%d %H:%M:%S" if moment.second else "%Y-%m-%d %H:%M")


def input_text(moment: datetime | None) -> str:
    """A moment as a date-and-time input (`<input type="datetime-local">`) shows it: in the
    campaign's zone, to the minute ("2026-06-30T17:00"); parse_deadline reads it back."""
    if moment is None:
        return ""
    return local(moment).strftime("%Y-%m-%dT%H:%M")


def same_minute(typed: datetime | None, kept: datetime | None) -> bool:
    """Whether a moment read from a date-and-time input is `kept` as that input showed it (to
    the minute): a form saved again keeps a deadline's seconds, such as the end of a day."""
    if typed is None or kept is None:
        return typed is kept
    return input_text(typed) == input_text(kept)


def zone_name() -> str:
    """The campaign's time zone as people read it next to a date and time: "America/Chicago"."""
    return str(current_app.config["TZ"])
