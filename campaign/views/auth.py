"""Organizer log in and log out; `next=` goes only to this site."""
from __future__ import annotations

from urllib.parse import urlsplit

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_login import current_user, login_required, login_user, logout_user

from .. import accounts
from ..database import writing
from ..errors import LoginThrottled
from ..forms import ActionForm, LoginForm

bp = Blueprint("auth", __name__)


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
        organizer = None
        try:  # the password is hashed before the writing unit, which only keeps the outcome
            attempt = accounts.check_login(form.email.data or "", form.password.data or "",
                                           ip=request.remote_addr)
        except LoginThrottled as exc:
            error = str(exc)
        else:
            with writing():
                organizer = accounts.record_login(attempt)
            if organizer is None:
                error = "That email and password do not match an organizer account."
        if organizer is not None:
            login_user(organizer)
            target = safe_next(request.args.get("next")) or url_for("admin.letters_page")
            return redirect(target, code=303)
    status = 401 if error else 200
    return render_template("auth/login.html", form=form, error=error), status


@bp.post("/logout")
@login_required
def logout() -> ResponseReturnValue:
    if ActionForm().validate_on_submit():
        logout_user()
        flash("You are logged out.", "info")
    return redirect(url_for("public.index"), code=303)
