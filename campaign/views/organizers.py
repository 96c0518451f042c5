"""Who organizes a letter: its Organizers page (roles given, changed, taken away; invitations
by email), and the page an invitation's link opens. What each role may do is roles.py's."""
from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, render_template, session, url_for
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _
from flask_login import current_user, login_user
from sqlalchemy import select
from wtforms.fields.choices import SelectChoice

from .. import accounts, roles, sessions
from ..admin_forms import InvitationForm, InviteForm, RoleForm
from ..database import writing
from ..errors import AccountError
from ..extensions import db
from ..fields import ActionForm
from ..models import Invitation, Letter, LetterRole, Partner, utcnow
from .admin import letter_or_404

bp = Blueprint("organizers", __name__, url_prefix="/admin")
invitations = Blueprint("invitation", __name__)
REMOVE = "remove"


def role_choices(letter: Letter) -> list[SelectChoice]:
    """The roles one can have on the letter: the four, then one per partner of the letter."""
    found = [SelectChoice(name, roles.ROLE_LABELS[name])
             for name in roles.ROLES if name != "partner"]
    partners = db.session.scalars(select(Partner).where(Partner.letter_id == letter.id)
                                  .order_by(Partner.name))
    found += [SelectChoice(f"partner:{p.code}", _("Partner %(name)s: its own signatories and "
                                                   "counts only", name=p.name))
              for p in partners]
    return found


@bp.route("/letters/<slug>/organizers", methods=["GET", "POST"])
def page(slug: str) -> ResponseReturnValue:
    """Who has which role on the letter, a form to change each, and invitations by email."""
    letter = letter_or_404(slug)
    form = InviteForm()
    form.role.choices = role_choices(letter)
    if form.validate_on_submit():
        try:
            with writing():
                role = roles.parse_role(letter, form.role.data or "")
                address = roles.invite(letter, form.email.data or "", role,
                                       invited_by=current_user.id).email
        except AccountError as exc:
            form.email.errors = [str(exc).capitalize() + "."]
        else:
            flash(_("Invitation sent to %(address)s: its link works for %(days)s days.",
                    address=address, days=roles.INVITATION_DAYS), "success")
            return redirect(url_for("organizers.page", slug=letter.slug), code=303)
    status = 422 if form.is_submitted() else 200
    change = RoleForm()
    change.role.choices = [*role_choices(letter),
                           SelectChoice(REMOVE, _("Remove from the letter"))]
    waiting = db.session.scalars(
        select(Invitation).where(Invitation.letter_id == letter.id,
                                 Invitation.accepted_at.is_(None),
                                 Invitation.expires_at > utcnow())
        .order_by(Invitation.created_at.desc()))
    return render_template("admin/organizers.html", letter=letter, form=form, change=change,
                           held=roles.organizers_of(letter), describe=roles.describe,
                           role_name=roles.role_name, waiting=list(waiting)), status


@bp.post("/letters/<slug>/organizers/<id:organizer_id>")
def change(slug: str, organizer_id: int) -> ResponseReturnValue:
    """Give an organizer of the letter another role, or take its role away."""
    letter = letter_or_404(slug)
    form = RoleForm()
    form.role.choices = [*role_choices(letter), SelectChoice(REMOVE, _("Remove"))]
    if not form.validate_on_submit():
        flash(_("Choose one of the roles listed; nothing was changed."), "error")
        return redirect(url_for("organizers.page", slug=letter.slug), code=303)
    with writing():
        held = db.session.scalar(select(LetterRole).where(
            LetterRole.letter_id == letter.id, LetterRole.organizer_id == organizer_id))
        if held is None:
            abort(404, _("That organizer has no role on this letter."))
        email = held.organizer.email
        if form.role.data == REMOVE:
            roles.revoke(letter, held.organizer)
            done = _("%(email)s no longer organizes this letter.", email=email)
        else:
            role = roles.parse_role(letter, form.role.data or "")
            roles.grant(letter, held.organizer, role)
            done = _("%(email)s is now %(role)s on this letter.", email=email,
                     role=roles.role_name(role.text))
    flash(done, "success")
    return redirect(url_for("organizers.page", slug=letter.slug), code=303)


# ------------------------------------------------------------------ the invitation's link


@invitations.route("/invitation/<token>", methods=["GET", "POST"])
def accept(token: str) -> ResponseReturnValue:
    """GET shows the invitation; POST accepts it. Someone new chooses a name and a password and
    is logged in; an existing account (whose email it is) gets the role at once, and logs in
    with its own password as ever: the link alone logs nobody into an account it did not make."""
    try:
        invitation = roles.invitation_for(token)
    except roles.InvitationError as exc:
        return render_template("error.html", code=404,
                               title=_("This invitation cannot be used"), message=str(exc)), 404
    letter = invitation.letter
    assert letter is not None
    existing = accounts.find(invitation.email) is not None
    form = ActionForm() if existing else InvitationForm()
    error = None
    if form.validate_on_submit():
        try:
            password_hash = None if existing else accounts.hash_password(
                form.password.data or "")  # slow: before the writing unit
            with writing():
                invitation = roles.invitation_for(token)  # once only, even sent twice at once
                organizer = roles.accept(invitation, password_hash,
                                         "" if existing else form.name.data or "")
                started = None if existing else sessions.start(organizer.id)
                slug = letter.slug
        except (AccountError, roles.InvitationError) as exc:
            error = str(exc)
        else:
            if started is None:
                flash(_("Your role on the letter is ready: log in to reach it."), "success")
                return redirect(url_for("auth.login_page",
                                        next=url_for("admin.signatures", slug=slug)), code=303)
            session[sessions.KEY] = started
            login_user(organizer, remember=False)
            flash(_("Welcome: your account is ready."), "success")
            return redirect(url_for("admin.signatures", slug=slug), code=303)
    status = 422 if form.is_submitted() else 200
    return render_template("auth/invitation.html", invitation=invitation, letter=letter,
                           form=form, existing=existing, error=error,
                           role=roles.ROLE_LABELS.get(invitation.role or "", ""),
                           logged_in=current_user.is_authenticated), status
