"""Every error a person can cause (a signer, an organizer, someone at the command line), under
one base class; each message is written for that person and shown as it is."""
from __future__ import annotations

from flask_babel import gettext as _


class CampaignError(Exception):
    """Base of the errors whose message is for people: views show it, commands print it."""


# ------------------------------------------------------------------ letters


class LetterError(CampaignError, ValueError):
    """A letter file or form value that cannot be used; the message names the problem."""


class SlugTaken(LetterError):
    """Another letter has this address already."""


class PartnerError(LetterError):
    """A letter's partner cannot be added, renamed or removed as asked (a bad or taken code, no
    name, signatures it brought); a letter file's `partners` too. `field` names the form field
    the message belongs at ("code", "name"; None: the partner as a whole)."""

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


# ------------------------------------------------------------------ signing and moderation


class SigningError(CampaignError):
    """What a signer sent cannot be used (an address that is not one, say)."""


class LetterNotOpen(SigningError):
    """The letter takes no signatures (a draft, closed, or past its deadline)."""


class SignerKindRefused(LetterNotOpen):
    """The letter takes no signatures from this kind of signer: an individual on a letter for
    organizations only, or an organization on one for individuals only."""


class BadToken(SigningError):
    """A confirmation link that cannot be used: expired, cut off or changed."""

    def __init__(self, message: str, signature_id: int | None = None) -> None:
        super().__init__(message)
        self.signature_id = signature_id


class StaleEmbedForm(SigningError):
    """An embedded sign form sent without its own token (embeds.py), with another letter's, or
    open too long: the embed's stand-in for the CSRF check, which needs a cookie."""


class ImportProblem(SigningError):
    """A spreadsheet that cannot be imported; every problem is named by its line."""

    def __init__(self, problems: list[str]) -> None:
        more = " " + _("(and %(num)d more)", num=len(problems) - 5) if len(problems) > 5 else ""
        super().__init__("; ".join(problems[:5]) + more)
        self.problems = problems


# ------------------------------------------------------------------ organizers


class AccountError(CampaignError, ValueError):
    """An organizer account cannot be created or used as asked."""


# ------------------------------------------------------------------ the signed letter


class DeliveryError(CampaignError):
    """Why a letter cannot be delivered or set up as asked."""


class AlreadyDelivered(DeliveryError):
    pass


class DeliveryUnderway(DeliveryError):
    """The letter is being delivered: what the final PDF shows can no longer change."""


class ListChanged(DeliveryError):
    """The list changed while the letter's PDF was being made for delivery."""


class PdfUnavailable(CampaignError):
    """The PDF cannot be made right now (too slow, or the renderer failed); the message says why."""


class UploadRejected(CampaignError, ValueError):
    """An uploaded file is not an image the PDF can use."""


# ------------------------------------------------------------------ updates to signers


class UpdateError(CampaignError, ValueError):
    """An update to signers that cannot be sent as written; `field` names the form field the
    message belongs at (None: the form as a whole)."""

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field
