"""The forms of signers: signing (an organization, an individual), confirming, a new link,
correcting their details. Field validation only; the domain modules decide the rest; the fields
and the base form are in fields.py."""
from __future__ import annotations

from typing import Any

from wtforms import (
    BooleanField,
    EmailField,
    HiddenField,
    SelectField,
    StringField,
    SubmitField,
)
from wtforms.validators import (
    URL,
    DataRequired,
    Email,
    InputRequired,
    Length,
    Optional,
    Regexp,
)

from .fields import (
    SCOPE_CHOICES,
    STRIP,
    VISIBLE,
    AddressField,
    CountryField,
    Form,
    web_address,
)
from .i18n import _l


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
        _l("Website"), filters=[web_address],
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
