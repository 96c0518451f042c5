"""Organizer log in and log out; `next=` goes only to this site. A login starts a session kept
on the server (sessions.py), whose token alone goes in the cookie; logging out ends it."""
from __future__ import annotations

from urllib.parse import urlsplit

from flask import Blueprint, flash, redirect, render_template, request, session, url_for
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _
from flask_login import current_user, login_required, login_user, logout_user

from .. import accounts, sessions
from ..admin_forms import LoginForm
from ..database import writing
from ..fields import ActionForm
from ..i18n import _l

bp = Blueprint("auth", __name__)
NO_MATCH = _l("That email and password do not match an organizer account.")


def safe_next(target: str | None) -> str | None:
    """Only a path on this site: no scheme, no host, no '//' or backslash tricks."""
    if not target:
        return None
    target = target.strip()
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") \
            or target.startswith(("//", "/\\")):
        return None
    if any(c in target for c in "\\\r\n\t"):
        return None
    return target


@bp.route("/login", methods=["GET", "POST"])
def login_page() -> ResponseReturnValue:
    if current_user.is_authenticated:
        return redirect(url_for("admin.letters_page"))
    form = LoginForm()
    error = None
    if form.validate_on_submit():
        # the password is hashed before the writing unit, which only keeps the outcome
        attempt = accounts.check_login(form.email.data or "", form.password.data or "",
                                       ip=request.remote_addr)
        with writing():
            organizer = accounts.record_login(attempt)
            token = sessions.start(organizer.id) if organizer is not None else ""
        if organizer is None:
            error = attempt.throttled or str(NO_MATCH)
        else:
            session[sessions.KEY] = token
            login_user(organizer, remember=False)
            target = safe_next(request.args.get("next")) or url_for("admin.letters_page")
            return redirect(target, code=303)
    status = 401 if error else 200
    return render_template("auth/login.html", form=form, error=error), status


@bp.post("/logout")
@login_required
def logout() -> ResponseReturnValue:
    if ActionForm().validate_on_submit():
        with writing():
            sessions.end(session.get(sessions.KEY))
        logout_user()
        session.pop(sessions.KEY, None)
        flash(_("You are logged out."), "info")
    return redirect(url_for("public.index"), code=303)
