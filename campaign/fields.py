"""What the forms are made of: the base form (WTForms' own messages in the request's
language), the country, email and web-address fields, the filters that clean what is typed, and
the choices several forms share (forms.py, admin_forms.py)."""
from __future__ import annotations

import functools
import gettext as gnu_gettext
import unicodedata
from typing import Any

import pycountry
from babel import support
from email_validator import EmailNotValidError, validate_email
from flask_babel import get_locale
from flask_babel import gettext as _
from flask_wtf import FlaskForm
from markupsafe import Markup, escape
from wtforms import (
    EmailField,
    Field,
    SelectField,
    widgets,
)
from wtforms.fields.choices import SelectChoice
from wtforms.i18n import messages_path as wtforms_messages_path
from wtforms.validators import (
    ValidationError,
)

from .errors import SigningError
from .i18n import _l, current_language
from .text import Address, normalize_email


@functools.cache
def _wtforms_messages(language: str) -> support.NullTranslations:
    """WTForms' own messages in `language` (its shipped catalogs), read once per process."""
    return support.Translations.load(wtforms_messages_path(), [language], domain="wtforms")


class Form(FlaskForm):
    """The forms' base: WTForms' own messages ("This field is required.") in the request's
    language, from catalogs read once per process (Flask-WTF's own i18n reads the catalog
    again on every request that uses one)."""

    class Meta(FlaskForm.Meta):
        def get_translations(self, form: Any) -> support.NullTranslations:
            return _wtforms_messages(current_language())


SIGNER_CHOICES = [
    SelectChoice("organizations", _l("Organizations")),
    SelectChoice("individuals", _l("Individuals")),
    SelectChoice("both", _l("Both organizations and individuals")),
]
# The organization form's scopes: never "individual", which only the individual form gives.
SCOPE_CHOICES = [
    SelectChoice("national", _l("National")),
    SelectChoice("state", _l("State or regional")),
    SelectChoice("local", _l("Local")),
    SelectChoice("international", _l("International")),
]


def _country_choices() -> list[SelectChoice]:
    names = sorted((c.name for c in pycountry.countries), key=str.casefold)
    return [SelectChoice(n) for n in ["United States"] + [n for n in names if n != "United States"]]


COUNTRY_CHOICES = _country_choices()  # values: the English names signatures keep


class CountrySelect(widgets.Select):
    """The country select with its ~250 options written once for each language: WTForms would
    build and escape each option again on every view of the sign form (most of the page's
    time)."""

    def __call__(self, field: Field, **kwargs: Any) -> Markup:
        kwargs.setdefault("id", field.id)
        if field.flags.required:
            kwargs.setdefault("required", True)
        chosen = f'<option value="{escape(field.data)}">'
        options = _country_options(_language()).replace(
            chosen, f'<option selected value="{escape(field.data)}">', 1)
        return Markup(f"<select {widgets.html_params(name=field.name, **kwargs)}>"
                      f"{options}</select>")


def _language() -> str:
    locale = get_locale()
    return locale.language if locale is not None else "en"


@functools.cache
def _country_options(language: str) -> str:
    """The options, their values the English names a signature keeps, their labels the names in
    `language` (pycountry's own translations): the United States first, then the others in
    that language's alphabetical order."""
    if language == "en":
        labelled = [(choice.value, choice.label) for choice in COUNTRY_CHOICES]
    else:
        names = gnu_gettext.translation("iso3166-1", pycountry.LOCALES_DIR, languages=[language],
                                        fallback=True)
        first, *others = [(choice.value, names.gettext(choice.value))
                          for choice in COUNTRY_CHOICES]
        labelled = [first, *sorted(others, key=lambda pair: _collation(pair[1]))]
    return "".join(f'<option value="{escape(value)}">{escape(label)}</option>'
                   for value, label in labelled)


def _collation(name: str) -> str:
    """A name's letters without their accents, case folded: a name that starts with an accented
    letter sorts among the others of that letter, not after Z."""
    bare = "".join(c for c in unicodedata.normalize("NFKD", name) if not unicodedata.combining(c))
    return bare.casefold()


class CountryField(SelectField):
    """A select of the ~250 countries whose check is a set lookup: SelectField's own check builds
    an option object for every choice on each submission. Its choices are given as a function,
    read only if something asks for them: SelectField goes through a list it is given each time
    a form is made."""

    widget = CountrySelect()

    def __init__(self, label: str | None = None, **kwargs: Any) -> None:
        super().__init__(label, choices=lambda: COUNTRY_CHOICES, **kwargs)

    def pre_validate(self, form: object) -> None:
        if self.process_errors:
            return
        if self.data not in COUNTRY_NAMES:
            message = self.invalid_choice_message or self.gettext("Not a valid choice.")
            raise ValidationError(message)


COUNTRY_NAMES = frozenset(choice.value for choice in COUNTRY_CHOICES)


def _strip(value: str | None) -> str | None:
    return value.strip() if isinstance(value, str) else value


STRIP = [_strip]


def web_address(value: str | None) -> str | None:
    """A website typed without its scheme (sunrise.example.org) is taken as https://."""
    value = _strip(value)
    if value and "://" not in value:
        return "https://" + value
    return value


def _visible(value: str | None) -> str | None:
    """Without control or invisible formatting characters, so that a name made only of them is
    blank (and so refused) rather than stored empty."""
    if not isinstance(value, str):
        return value
    return "".join(c for c in value if unicodedata.category(c)[0] != "C" or c in "\t\n").strip()


VISIBLE = [_visible]


class AddressField(EmailField):
    """An email address checked once, as signing keeps it (text.normalize_email): after its
    validators pass, `address` is the checked address, in lower case, for the domain, which
    then does not check it again; the field's data stays as it was typed."""

    address: Address | None = None

    def post_validate(self, form: object, validation_stopped: bool) -> None:
        self.address = None
        if validation_stopped or self.errors:
            return
        try:
            self.address = normalize_email(self.data or "")
        except SigningError as exc:
            raise ValidationError(_address_problem(self.data or "", exc)) from None


def _address_problem(typed: str, problem: SigningError) -> str:
    """What the field says: WTForms' message, or the reason when the address is one that only
    Campaign refuses (letters outside ASCII before the @, which need SMTPUTF8)."""
    try:
        validate_email(typed, check_deliverability=False)
    except EmailNotValidError:
        return _("Invalid email address.")
    return str(problem)


class ActionForm(Form):
    """A bare form for a button: carries only the CSRF token."""
