"""Flask-WTF forms: field validation only; the domain modules decide the rest."""
from __future__ import annotations

import functools
import unicodedata
from typing import Any

import pycountry
from email_validator import EmailNotValidError, validate_email
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
from .models import LETTER_STATUSES
from .text import SLUG_RE, Address, normalize_email

SIGNER_CHOICES = [
    SelectChoice("organizations", "Organizations"),
    SelectChoice("individuals", "Individuals"),
    SelectChoice("both", "Both organizations and individuals"),
]
# The organization form's scopes: never "individual", which only the individual form gives.
SCOPE_CHOICES = [
    SelectChoice("national", "National"),
    SelectChoice("state", "State or regional"),
    SelectChoice("local", "Local"),
    SelectChoice("international", "International"),
]


def _country_choices() -> list[SelectChoice]:
    names = sorted((c.name for c in pycountry.countries), key=str.casefold)
    return [SelectChoice(n) for n in ["United States"] + [n for n in names if n != "United States"]]


COUNTRY_CHOICES = _country_choices()


class CountrySelect(widgets.Select):
    """The country select with its ~250 options written once: WTForms would build and escape
    each option again on every view of the sign form (most of the page's time)."""

    def __call__(self, field: Field, **kwargs: Any) -> Markup:
        kwargs.setdefault("id", field.id)
        if field.flags.required:
            kwargs.setdefault("required", True)
        chosen = f'<option value="{escape(field.data)}">'
        options = _country_options().replace(
            chosen, f'<option selected value="{escape(field.data)}">', 1)
        return Markup(f"<select {widgets.html_params(name=field.name, **kwargs)}>"
                      f"{options}</select>")


@functools.cache
def _country_options() -> str:
    return "".join(f'<option value="{escape(choice.value)}">{escape(choice.label)}</option>'
                   for choice in COUNTRY_CHOICES)


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
        return "Invalid email address."
    return str(problem)


class LoginForm(FlaskForm):
    email = EmailField("Email", validators=[DataRequired(), Length(max=254)], filters=STRIP)
    password = PasswordField("Password", validators=[DataRequired(), Length(max=1024)])
    submit = SubmitField("Log in")


STATUS_LABELS = {"collecting": "Collecting (private until launch)"}


class LetterForm(FlaskForm):
    title = StringField("Title", validators=[DataRequired(), Length(max=300)], filters=STRIP)
    slug = StringField(
        "Address (slug)",
        validators=[Optional(), Length(max=80),
                    Regexp(SLUG_RE, message="Use lowercase letters, digits and single hyphens.")],
        filters=STRIP,
        description="The letter's address: /letters/<slug>. Left blank, it is made from the title.",
    )
    recipient = TextAreaField("Addressee", validators=[Length(max=2000)], filters=STRIP,
                              description="The addressee block, one line each.")
    body = TextAreaField("Letter (Markdown)", validators=[DataRequired(), Length(max=100_000)])
    deadline = StringField(
        "Deadline", validators=[Optional(), Length(max=40)], filters=STRIP,
        description="A date (the end of that day) or a date and time, e.g. 2026-06-30 or "
                    "2026-06-30 17:00. Empty for none.",
    )
    status = SelectField("Status",
                         choices=[SelectChoice(s, STATUS_LABELS.get(s, s.capitalize()))
                                  for s in LETTER_STATUSES])
    publish_at = StringField(
        "Opens to the public at", validators=[Optional(), Length(max=40)], filters=STRIP,
        description="For a collecting letter: when its count and list become public by "
                    "themselves, e.g. 2026-06-01 09:00. Empty: when you open it by hand.",
    )
    language = StringField("Language", default="en", validators=[DataRequired(), Length(max=16)],
                           filters=STRIP)
    signers = SelectField("Who can sign", choices=SIGNER_CHOICES, default="organizations",
                          description="Individuals sign with their name; an affiliation they "
                                      "give is listed for identification only.")
    embed_origins = TextAreaField(
        "Sites that may embed the sign form", validators=[Length(max=20_000)], filters=STRIP,
        description="One site a line, such as https://partner.example.org, or * for any site. "
                    "Empty: no site may show it (embeds.py).")
    require_approval = BooleanField("Approve signatories before they are listed", default=True)
    show_contact_names = BooleanField("Show contact names on the public list")
    # Asked only of a letter that has signatures, and needed only when its text changes: does
    # the new text ask its signers again (reconsent.py)?
    text_change = RadioField(
        "This new text is", validators=[Optional()],
        choices=[SelectChoice("correction",
                              "A correction: typos or formatting; signers are not asked again"),
                 SelectChoice("change", "A change: signers are emailed the difference and asked "
                                        "to confirm the new text")])
    preview = SubmitField("Preview")
    submit = SubmitField("Save letter")


class SignForm(FlaskForm):
    organization = StringField("Organization name", validators=[DataRequired(), Length(max=300)],
                               filters=VISIBLE)
    contact_name = StringField("Your name", validators=[DataRequired(), Length(max=200)],
                               filters=VISIBLE)
    contact_title = StringField("Your title or role", validators=[Optional(), Length(max=200)],
                                filters=STRIP)
    email = AddressField(
        "Email", validators=[DataRequired(), Length(max=254)],
        filters=STRIP, description="We send a link to confirm. Never shown publicly.",
    )
    phone = StringField("Phone (optional)", validators=[Optional(), Length(max=50)], filters=STRIP,
                        description="Only the organizers see it.")
    website = StringField(
        "Website", filters=[_web_address],
        validators=[Optional(), Length(max=300),
                    URL(require_tld=True, message="Enter a web address such as https://example.org"),
                    Regexp(r"(?i)^https?://", message="Enter a web address such as https://example.org")],
    )
    city = StringField("City", validators=[Optional(), Length(max=120)], filters=STRIP)
    region = StringField("State / Region", validators=[Optional(), Length(max=120)], filters=STRIP)
    country = CountryField("Country", default="United States")
    scope = SelectField("Your organization works at the level of", choices=SCOPE_CHOICES,
                        default="local")
    consent = BooleanField(
        "I agree that our organization's name may be listed publicly as a signatory",
        validators=[InputRequired(message="Please agree that the name may be listed.")],
    )
    authorized = BooleanField(
        "I am authorized to sign on behalf of this organization",
        validators=[InputRequired(
            message="Please confirm that you may sign for the organization.")],
    )
    keep_updated = BooleanField("Keep me updated about this letter")
    # Spam traps. A hidden field that must come back, and empty: a bot that posts only the
    # fields it sees, or stuffs every field, gets held. A text field people never see (and
    # browsers never autofill): a bot that fills in every box gets held.
    leave_empty = HiddenField(default="")
    comment = StringField("Leave this empty", validators=[Optional()])
    submit = SubmitField("Sign the letter")


class IndividualSignForm(FlaskForm):
    """The sign form of a person signing for themselves (a letter whose `signers` take
    individuals). The fields it shares with SignForm are SignForm's own: the same labels and
    checks, and the same spam traps."""

    name = StringField("Your name", validators=[DataRequired(), Length(max=300)],
                       filters=VISIBLE, description="Listed publicly as you write it.")
    title = StringField("Your title or role (optional)", validators=[Optional(), Length(max=200)],
                        filters=STRIP, description="Shown with your name, e.g. Professor.")
    affiliation = StringField(
        "Affiliation (optional)", validators=[Optional(), Length(max=300)], filters=VISIBLE,
        description="An organization, school or employer, shown with your name for "
                    "identification only: it does not sign.")
    email = SignForm.email
    city = SignForm.city
    region = SignForm.region
    country = SignForm.country
    consent = BooleanField(
        "I agree to be listed publicly as a signatory, with my title and affiliation",
        validators=[InputRequired(message="Please agree to be listed.")],
    )
    keep_updated = SignForm.keep_updated
    leave_empty = SignForm.leave_empty
    comment = SignForm.comment
    submit = SignForm.submit


def caught_by_trap(form: SignForm | IndividualSignForm, sent: Any) -> bool:
    """True when a sign form `sent` (the request's form data) fell into a spam trap: the hidden
    field left out or filled in, or the unseen text field filled in."""
    return "leave_empty" not in sent or bool(form.leave_empty.data) or bool(form.comment.data)


class ResendForm(FlaskForm):
    email = EmailField("Email", validators=[DataRequired(), Length(max=254),
                                            Email(check_deliverability=False)], filters=STRIP)
    submit = SubmitField("Send a new link")


class ConfirmForm(FlaskForm):
    submit = SubmitField("Confirm my signature")


class ActionForm(FlaskForm):
    """A bare form for a button: carries only the CSRF token."""


class RenameForm(FlaskForm):
    display_name = StringField("Shown as", validators=[Optional(), Length(max=300)], filters=STRIP)
    submit = SubmitField("Save name")


class PartnerForm(FlaskForm):
    """A letter's new partner; partners.check_code and check_name say what is wrong with it."""

    code = StringField("Code", filters=STRIP, description="In the partner's link: lowercase "
                       "letters, digits and hyphens, e.g. casa.")
    name = StringField("Name", filters=STRIP, description="e.g. CASA de Maryland")
    submit = SubmitField("Add partner")


class PartnerNameForm(FlaskForm):
    """Another name for a partner (its code, in links already given out, stays)."""

    name = StringField("Name", filters=STRIP)
    submit = SubmitField("Rename")


class ImportForm(FlaskForm):
    file = FileField("CSV file",
                     validators=[FileRequired(), FileAllowed(["csv", "txt"], "A .csv file")])
    approved = BooleanField("List them at once (approved)")
    submit = SubmitField("Import")


class LetterheadForm(FlaskForm):
    coalition_name = StringField("Coalition name on the letterhead",
                                 validators=[Optional(), Length(max=200)])
    logo = FileField("Logo on the letterhead (PNG or JPEG, at most 2 MB)",
                     validators=[FileAllowed(["png", "jpg", "jpeg"], "A PNG or JPEG image.")])
    remove_logo = BooleanField("Remove the logo")
    closing = TextAreaField("Closing line", validators=[Optional(), Length(max=300)],
                            description="Printed under the body, for example “Respectfully,”; "
                                        "leave it empty if the body ends with one.")
    delivery_emails = TextAreaField("Recipients’ email addresses",
                                    validators=[Length(max=20_000)],
                                    description="One a line; they get the final PDF if the box "
                                                "below is ticked.")
    deliver_by_email = BooleanField("Email the final PDF to these addresses on delivery")
    save = SubmitField("Save")


class DeliverForm(FlaskForm):
    notify = BooleanField("Tell the signatories by email that the letter was delivered",
                          default=True)
    confirm = BooleanField("I have checked the PDF: close the letter and deliver it",
                           validators=[DataRequired("Tick this box to confirm.")])
    submit = SubmitField("Close and deliver")


class DetailsForm(FlaskForm):
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
    submit = SubmitField("Save changes")


class IndividualDetailsForm(FlaskForm):
    """A person signing for themselves correcting their details: the individual sign form's
    fields and checks, but for the email."""

    organization = IndividualSignForm.name
    contact_title = IndividualSignForm.title
    affiliation = IndividualSignForm.affiliation
    city = SignForm.city
    region = SignForm.region
    country = SignForm.country
    submit = DetailsForm.submit


class UpdateForm(FlaskForm):
    """An update to a letter's signers; the view puts each audience's count in its label."""

    audience = RadioField("Who gets it", default="subscribers",
                          choices=[SelectChoice("subscribers",
                                                "Signers who asked to be kept updated"),
                                   SelectChoice("signers", "Every confirmed signer")])
    subject = StringField("Subject", validators=[Length(max=1000)], filters=STRIP)
    body = TextAreaField("Update (Markdown)", validators=[Length(max=100_000)])
    preview = SubmitField("Preview")
    send = SubmitField("Send")


class InviteForm(FlaskForm):
    """Invite someone to organize a letter; the view lists the roles (a partner's among them)."""

    email = EmailField("Email", validators=[DataRequired(), Length(max=254)], filters=STRIP)
    role = SelectField("Role", default="viewer")
    submit = SubmitField("Send the invitation")


class RoleForm(FlaskForm):
    """Change an organizer's role on a letter, or ("remove") take it away."""

    role = SelectField("Role")
    submit = SubmitField("Change")


class InvitationForm(FlaskForm):
    """Accepting an invitation with a new account: a name and a password, typed twice."""

    name = StringField("Your name", validators=[Optional(), Length(max=200)], filters=STRIP)
    password = PasswordField("Password", validators=[DataRequired(), Length(max=1024)])
    again = PasswordField("The password again", validators=[
        DataRequired(), EqualTo("password", message="The two passwords differ.")])
    submit = SubmitField("Create my account")
