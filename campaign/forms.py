"""Flask-WTF forms: field validation only; the domain modules decide the rest."""
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
from flask_wtf.file import FileAllowed, FileField, FileRequired
from markupsafe import Markup, escape
from wtforms import (
    BooleanField,
    EmailField,
    Field,
    HiddenField,
    PasswordField,
    RadioField,
    SelectField,
    StringField,
    SubmitField,
    TextAreaField,
    widgets,
)
from wtforms.fields.choices import SelectChoice
from wtforms.i18n import messages_path as wtforms_messages_path
from wtforms.validators import (
    URL,
    DataRequired,
    Email,
    EqualTo,
    InputRequired,
    Length,
    Optional,
    Regexp,
    ValidationError,
)

from .errors import SigningError
from .i18n import LANGUAGES, _l, current_language
from .models import LETTER_STATUSES
from .text import SLUG_RE, Address, normalize_email


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


def _web_address(value: str | None) -> str | None:
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


class LoginForm(Form):
    email = EmailField(_l("Email"), validators=[DataRequired(), Length(max=254)], filters=STRIP)
    password = PasswordField(_l("Password"), validators=[DataRequired(), Length(max=1024)])
    submit = SubmitField(_l("Log in"))


STATUS_LABELS = {"draft": _l("Draft"), "collecting": _l("Collecting (private until launch)"),
                 "open": _l("Open"), "closed": _l("Closed")}


class LetterForm(Form):
    title = StringField(_l("Title"), validators=[DataRequired(), Length(max=300)], filters=STRIP)
    slug = StringField(
        _l("Address (slug)"),
        validators=[Optional(), Length(max=80),
                    Regexp(SLUG_RE,
                           message=_l("Use lowercase letters, digits and single hyphens."))],
        filters=STRIP,
        description=_l("The letter's address: /letters/<slug>. Left blank, it is made from the "
                       "title."),
    )
    recipient = TextAreaField(_l("Addressee"), validators=[Length(max=2000)], filters=STRIP,
                              description=_l("The addressee block, one line each."))
    body = TextAreaField(_l("Letter (Markdown)"),
                         validators=[DataRequired(), Length(max=100_000)])
    deadline = StringField(
        _l("Deadline"), validators=[Optional(), Length(max=40)], filters=STRIP,
        description=_l("A date (the end of that day) or a date and time, e.g. 2026-06-30 or "
                       "2026-06-30 17:00. Empty for none."),
    )
    status = SelectField(_l("Status"),
                         choices=[SelectChoice(s, STATUS_LABELS.get(s, s.capitalize()))
                                  for s in LETTER_STATUSES])
    publish_at = StringField(
        _l("Opens to the public at"), validators=[Optional(), Length(max=40)], filters=STRIP,
        description=_l("For a collecting letter: when its count and list become public by "
                       "themselves, e.g. 2026-06-01 09:00. Empty: when you open it by hand."),
    )
    language = StringField(_l("Language"), default="en",
                           validators=[DataRequired(), Length(max=16)], filters=STRIP)
    signers = SelectField(_l("Who can sign"), choices=SIGNER_CHOICES, default="organizations",
                          description=_l("Individuals sign with their name; an affiliation they "
                                         "give is listed for identification only."))
    embed_origins = TextAreaField(
        _l("Sites that may embed the sign form"), validators=[Length(max=20_000)], filters=STRIP,
        description=_l("One site a line, such as https://partner.example.org, or * for any "
                       "site. Empty: no site may show it (embeds.py)."))
    require_approval = BooleanField(_l("Approve signatories before they are listed"),
                                    default=True)
    show_contact_names = BooleanField(_l("Show contact names on the public list"))
    # Asked only of a letter that has signatures, and needed only when its text changes: does
    # the new text ask its signers again (reconsent.py)?
    text_change = RadioField(
        _l("This new text is"), validators=[Optional()],
        choices=[SelectChoice("correction",
                              _l("A correction: typos or formatting; signers are not asked "
                                 "again")),
                 SelectChoice("change", _l("A change: signers are emailed the difference and "
                                           "asked to confirm the new text"))])
    preview = SubmitField(_l("Preview"))
    submit = SubmitField(_l("Save letter"))


class SignForm(Form):
    organization = StringField(_l("Organization name"),
                               validators=[DataRequired(), Length(max=300)], filters=VISIBLE)
    contact_name = StringField(_l("Your name"), validators=[DataRequired(), Length(max=200)],
                               filters=VISIBLE)
    contact_title = StringField(_l("Your title or role"),
                                validators=[Optional(), Length(max=200)], filters=STRIP)
    email = AddressField(
        _l("Email"), validators=[DataRequired(), Length(max=254)],
        filters=STRIP, description=_l("We send a link to confirm. Never shown publicly."),
    )
    phone = StringField(_l("Phone (optional)"), validators=[Optional(), Length(max=50)],
                        filters=STRIP, description=_l("Only the organizers see it."))
    website = StringField(
        _l("Website"), filters=[_web_address],
        validators=[Optional(), Length(max=300),
                    URL(require_tld=True,
                        message=_l("Enter a web address such as https://example.org")),
                    Regexp(r"(?i)^https?://",
                           message=_l("Enter a web address such as https://example.org"))],
    )
    city = StringField(_l("City"), validators=[Optional(), Length(max=120)], filters=STRIP)
    region = StringField(_l("State / Region"), validators=[Optional(), Length(max=120)],
                         filters=STRIP)
    country = CountryField(_l("Country"), default="United States")
    scope = SelectField(_l("Your organization works at the level of"), choices=SCOPE_CHOICES,
                        default="local")
    consent = BooleanField(
        _l("I agree that our organization's name may be listed publicly as a signatory"),
        validators=[InputRequired(message=_l("Please agree that the name may be listed."))],
    )
    authorized = BooleanField(
        _l("I am authorized to sign on behalf of this organization"),
        validators=[InputRequired(
            message=_l("Please confirm that you may sign for the organization."))],
    )
    keep_updated = BooleanField(_l("Keep me updated about this letter"))
    # Spam traps. A hidden field that must come back, and empty: a bot that posts only the
    # fields it sees, or stuffs every field, gets held. A text field people never see (and
    # browsers never autofill): a bot that fills in every box gets held.
    leave_empty = HiddenField(default="")
    comment = StringField(_l("Leave this empty"), validators=[Optional()])
    submit = SubmitField(_l("Sign the letter"))


class IndividualSignForm(Form):
    """The sign form of a person signing for themselves (a letter whose `signers` take
    individuals). The fields it shares with SignForm are SignForm's own: the same labels and
    checks, and the same spam traps."""

    name = StringField(_l("Your name"), validators=[DataRequired(), Length(max=300)],
                       filters=VISIBLE, description=_l("Listed publicly as you write it."))
    title = StringField(_l("Your title or role (optional)"),
                        validators=[Optional(), Length(max=200)], filters=STRIP,
                        description=_l("Shown with your name, e.g. Professor."))
    affiliation = StringField(
        _l("Affiliation (optional)"), validators=[Optional(), Length(max=300)], filters=VISIBLE,
        description=_l("An organization, school or employer, shown with your name for "
                       "identification only: it does not sign."))
    email = SignForm.email
    city = SignForm.city
    region = SignForm.region
    country = SignForm.country
    consent = BooleanField(
        _l("I agree to be listed publicly as a signatory, with my title and affiliation"),
        validators=[InputRequired(message=_l("Please agree to be listed."))],
    )
    keep_updated = SignForm.keep_updated
    leave_empty = SignForm.leave_empty
    comment = SignForm.comment
    submit = SignForm.submit


def caught_by_trap(form: SignForm | IndividualSignForm, sent: Any) -> bool:
    """True when a sign form `sent` (the request's form data) fell into a spam trap: the hidden
    field left out or filled in, or the unseen text field filled in."""
    return "leave_empty" not in sent or bool(form.leave_empty.data) or bool(form.comment.data)


class ResendForm(Form):
    email = EmailField(_l("Email"), validators=[DataRequired(), Length(max=254),
                                                Email(check_deliverability=False)], filters=STRIP)
    submit = SubmitField(_l("Send a new link"))


class ConfirmForm(Form):
    submit = SubmitField(_l("Confirm my signature"))


class ActionForm(Form):
    """A bare form for a button: carries only the CSRF token."""


class RenameForm(Form):
    display_name = StringField(_l("Shown as"), validators=[Optional(), Length(max=300)],
                               filters=STRIP)
    submit = SubmitField(_l("Save name"))


class PartnerForm(Form):
    """A letter's new partner; partners.check_code and check_name say what is wrong with it."""

    code = StringField(_l("Code"), filters=STRIP, description=_l("In the partner's link: "
                       "lowercase letters, digits and hyphens, e.g. casa."))
    name = StringField(_l("Name"), filters=STRIP, description=_l("e.g. CASA de Maryland"))
    submit = SubmitField(_l("Add partner"))


class PartnerNameForm(Form):
    """Another name for a partner (its code, in links already given out, stays)."""

    name = StringField(_l("Name"), filters=STRIP)
    submit = SubmitField(_l("Rename"))


class ImportForm(Form):
    file = FileField(_l("CSV file"),
                     validators=[FileRequired(), FileAllowed(["csv", "txt"], _l("A .csv file"))])
    approved = BooleanField(_l("List them at once (approved)"))
    submit = SubmitField(_l("Import"))


class LetterheadForm(Form):
    coalition_name = StringField(_l("Coalition name on the letterhead"),
                                 validators=[Optional(), Length(max=200)])
    logo = FileField(_l("Logo on the letterhead (PNG or JPEG, at most 2 MB)"),
                     validators=[FileAllowed(["png", "jpg", "jpeg"],
                                             _l("A PNG or JPEG image."))])
    remove_logo = BooleanField(_l("Remove the logo"))
    closing = TextAreaField(_l("Closing line"), validators=[Optional(), Length(max=300)],
                            description=_l("Printed under the body, for example “Respectfully,”; "
                                           "leave it empty if the body ends with one."))
    delivery_emails = TextAreaField(_l("Recipients’ email addresses"),
                                    validators=[Length(max=20_000)],
                                    description=_l("One a line; they get the final PDF if the "
                                                   "box below is ticked."))
    deliver_by_email = BooleanField(_l("Email the final PDF to these addresses on delivery"))
    save = SubmitField(_l("Save"))


class DeliverForm(Form):
    notify = BooleanField(_l("Tell the signatories by email that the letter was delivered"),
                          default=True)
    confirm = BooleanField(_l("I have checked the PDF: close the letter and deliver it"),
                           validators=[DataRequired(_l("Tick this box to confirm."))])
    submit = SubmitField(_l("Close and deliver"))


class DetailsForm(Form):
    """An organization's signer correcting their details on their own page: the sign form's
    fields and checks, but for the email (a signature is its confirmed address)."""

    organization = SignForm.organization
    contact_name = SignForm.contact_name
    contact_title = SignForm.contact_title
    phone = SignForm.phone
    website = SignForm.website
    city = SignForm.city
    region = SignForm.region
    country = SignForm.country
    scope = SignForm.scope
    submit = SubmitField(_l("Save changes"))


class IndividualDetailsForm(Form):
    """A person signing for themselves correcting their details: the individual sign form's
    fields and checks, but for the email."""

    organization = IndividualSignForm.name
    contact_title = IndividualSignForm.title
    affiliation = IndividualSignForm.affiliation
    city = SignForm.city
    region = SignForm.region
    country = SignForm.country
    submit = DetailsForm.submit


class UpdateForm(Form):
    """An update to a letter's signers; the view puts each audience's count in its label."""

    audience = RadioField(_l("Who gets it"), default="subscribers",
                          choices=[SelectChoice("subscribers",
                                                _l("Signers who asked to be kept updated")),
                                   SelectChoice("signers", _l("Every confirmed signer"))])
    subject = StringField(_l("Subject"), validators=[Length(max=1000)], filters=STRIP)
    body = TextAreaField(_l("Update (Markdown)"), validators=[Length(max=100_000)])
    preview = SubmitField(_l("Preview"))
    send = SubmitField(_l("Send"))


class InviteForm(Form):
    """Invite someone to organize a letter; the view lists the roles (a partner's among them)."""

    email = EmailField(_l("Email"), validators=[DataRequired(), Length(max=254)], filters=STRIP)
    role = SelectField(_l("Role"), default="viewer")
    submit = SubmitField(_l("Send the invitation"))


class RoleForm(Form):
    """Change an organizer's role on a letter, or ("remove") take it away."""

    role = SelectField(_l("Role"))
    submit = SubmitField(_l("Change"))


class InvitationForm(Form):
    """Accepting an invitation with a new account: a name and a password, typed twice."""

    name = StringField(_l("Your name"), validators=[Optional(), Length(max=200)], filters=STRIP)
    password = PasswordField(_l("Password"), validators=[DataRequired(), Length(max=1024)])
    again = PasswordField(_l("The password again"), validators=[
        DataRequired(), EqualTo("password", message=_l("The two passwords differ."))])
    submit = SubmitField(_l("Create my account"))


class TranslationForm(Form):
    """A letter's text in another language (translations.py)."""

    language = StringField(_l("Language"), validators=[DataRequired(), Length(max=16)],
                           filters=STRIP,
                           description=_l("A language code, such as es for Spanish."))
    title = StringField(_l("Title"), validators=[DataRequired(), Length(max=300)], filters=STRIP)
    recipient = TextAreaField(_l("Addressee"), validators=[Length(max=2000)], filters=STRIP)
    body = TextAreaField(_l("Letter (Markdown)"),
                         validators=[DataRequired(), Length(max=100_000)])
    text_change = RadioField(
        _l("This new text is"), default="change",
        choices=[SelectChoice("correction",
                              _l("A correction: typos or formatting; signers are not asked "
                                 "again")),
                 SelectChoice("change", _l("A change: signers are emailed the difference and "
                                           "asked to confirm the new text"))])
    submit = SubmitField(_l("Save translation"))


class LanguageForm(Form):
    """An organizer's own language for the organizer pages."""

    language = SelectField(_l("Language"), choices=[
        SelectChoice("", _l("My browser's")),
        *(SelectChoice(code, name) for code, name in LANGUAGES.items())])
    submit = SubmitField(_l("Change"))
