"""The tables, by job: letters.py (organizers and their sessions, letters, versions,
signatures, the counts of those listed), records.py (deliveries, signers' links, updates to
signers, the audit log), coalition.py (partners, roles, invitations, share images), work.py
(what the workers do and keep: the outbox, rate events, uploads, render jobs, imports and the
uploads waiting for their preview's confirmation, PDFs) and columns.py (moments in UTC).
Everything is imported from here."""
from .coalition import ROLES, Invitation, LetterRole, Partner, ShareImage
from .columns import UTCDateTime, utcnow
from .letters import (
    LETTER_STATUSES,
    ORGANIZATION_SCOPES,
    SCOPE_LABELS,
    SCOPES,
    SIGNATURE_STATUSES,
    SIGNER_KINDS,
    VERSION_KINDS,
    Letter,
    LetterTranslation,
    LetterVersion,
    ListedCount,
    Organizer,
    OrganizerSession,
    Signature,
    effective_status,
    past,
    takes_signatures,
    text_hash,
)
from .records import AuditEntry, DeliveredSignature, Delivery, LetterUpdate, SignerLink
from .work import (
    IMPORT_STATUSES,
    PDF_KINDS,
    RENDER_KINDS,
    ImportWaiting,
    OutboxAttachment,
    OutboxMessage,
    PdfFile,
    PdfPart,
    RateEvent,
    RenderJob,
    SignatureImport,
    Upload,
)

__all__ = [
    "ROLES", "Invitation", "LetterRole", "Partner", "ShareImage",
    "ORGANIZATION_SCOPES", "SIGNER_KINDS", "VERSION_KINDS", "AuditEntry", "LetterUpdate",
    "SignerLink", "IMPORT_STATUSES", "LETTER_STATUSES", "PDF_KINDS", "RENDER_KINDS", "SCOPES",
    "SCOPE_LABELS", "ImportWaiting",
    "SIGNATURE_STATUSES", "DeliveredSignature", "Delivery", "Letter",
    "LetterTranslation", "LetterVersion",
    "ListedCount", "OrganizerSession", "Organizer", "OutboxAttachment", "OutboxMessage",
    "PdfFile", "PdfPart", "RateEvent", "RenderJob", "Signature", "SignatureImport",
    "UTCDateTime", "Upload", "effective_status", "past", "takes_signatures", "text_hash", "utcnow",
]
