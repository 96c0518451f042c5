"""The forms of organizers: logging in, writing a letter and its translations, moderating,
importing, delivering, updates, partners, roles and invitations. Field validation only; the
fields and the base form are in fields.py."""
from __future__ import annotations

from flask_wtf.file import FileAllowed, FileField, FileRequired
from wtforms import (
    BooleanField,
    EmailField,
    PasswordField,
    RadioField,
    SelectField,
    StringField,
    SubmitField,
    TextAreaField,
)
from wtforms.fields.choices import SelectChoice
from wtforms.validators import (
    DataRequired,
    EqualTo,
    Length,
    Optional,
    Regexp,
)
from wtforms.widgets import DateTimeLocalInput

from .fields import (
    SIGNER_CHOICES,
    STRIP,
    VISIBLE,
    AddressField,
    Form,
)
from .forms import SignForm
from .i18n import LANGUAGES, _l
from .models import LETTER_STATUSES
from .text import SLUG_RE


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
    # a date and time in the campaign's time zone, which the view names in the description;
    # text, read by the view (dates.parse_deadline), so that a browser without the picker can
    # type "2026-06-30" or "2026-06-30 17:00" too
    deadline = StringField(_l("Deadline"), validators=[Optional(), Length(max=40)],
                           filters=STRIP, widget=DateTimeLocalInput())
    status = SelectField(_l("Status"),
                         choices=[SelectChoice(s, STATUS_LABELS.get(s, s.capitalize()))
                                  for s in LETTER_STATUSES])
    publish_at = StringField(_l("Opens to the public at"),
                             validators=[Optional(), Length(max=40)], filters=STRIP,
                             widget=DateTimeLocalInput())
    # the interface's languages and the letter's own (the view sets the choices)
    language = SelectField(_l("Language"), default="en")
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


class ReopenForm(Form):
    """Reopen a delivered letter for an addendum: an explicit step, never the status field."""

    deadline = StringField(_l("New deadline"), validators=[Optional(), Length(max=40)],
                           filters=STRIP, widget=DateTimeLocalInput())
    confirm = BooleanField(
        _l("Reopen it: the delivered letter stays as it was delivered, and signatories approved "
           "from now on go into the addendum"),
        validators=[DataRequired(_l("Tick this box to confirm."))])
    submit = SubmitField(_l("Reopen for an addendum"))


class AddendumForm(Form):
    """Email the addendum (those listed since delivery) to the letter's recipients."""

    addresses = TextAreaField(_l("Send the addendum to"), validators=[Length(max=20_000)],
                              description=_l("One address a line."))
    confirm = BooleanField(_l("I have checked the addendum: email it now"),
                           validators=[DataRequired(_l("Tick this box to confirm."))])
    submit = SubmitField(_l("Email the addendum"))


class SignatureForm(Form):
    """An organizer's edit of a signature (signature_edits.edit): every field they may change.
    The view sets the scopes the letter takes, and drops the email and phone for a role
    without the contact details."""

    organization = StringField(_l("Name as submitted"),
                               validators=[DataRequired(), Length(max=300)], filters=VISIBLE,
                               description=_l("The organization's name (a person's, for an "
                                              "individual), as the signer wrote it."))
    display_name = StringField(_l("Shown as"), validators=[Optional(), Length(max=300)],
                               filters=VISIBLE,
                               description=_l("How the public list shows the name. Empty: as "
                                              "submitted."))
    contact_name = StringField(_l("Contact name"), validators=[Optional(), Length(max=200)],
                               filters=VISIBLE)
    contact_title = StringField(_l("Contact's title or role"),
                                validators=[Optional(), Length(max=200)], filters=VISIBLE)
    email = AddressField(_l("Email"), validators=[Optional(), Length(max=254)], filters=STRIP,
                         description=_l("Never shown publicly. Empty: none."))
    phone = StringField(_l("Phone"), validators=[Optional(), Length(max=50)], filters=STRIP)
    website = SignForm.website
    city = SignForm.city
    region = SignForm.region
    country = StringField(_l("Country"), validators=[Optional(), Length(max=120)],
                          filters=STRIP,
                          description=_l("A country's name or code, such as United States or "
                                         "MX."))
    scope = SelectField(_l("Listed among"))
    affiliation = StringField(_l("Affiliation"), validators=[Optional(), Length(max=300)],
                              filters=VISIBLE,
                              description=_l("An individual's, listed with their name for "
                                             "identification only."))
    submit = SubmitField(_l("Save changes"))


class MergeForm(Form):
    """Merge another signature of the letter (`other`, its number) into the one in the address:
    that one stays, the other is deleted (signature_edits.merge)."""

    other = StringField(validators=[DataRequired(), Length(max=20)])  # exactly as sent
    fill_blanks = BooleanField(_l("Fill the blank fields of the one kept from the other"))
