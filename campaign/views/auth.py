"""Organizer log in and log out; `next=` goes only to this site."""
from __future__ import annotations

from urllib.parse import urlsplit

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_login import current_user, login_required, login_user, logout_user

from .. import accounts
from ..extensions import db, login
from ..forms import ActionForm, LoginForm

bp = Blueprint("auth", __name__)

login.login_view = "auth.login_page"
login.login_message = "Please log in to see that page."
login.login_message_category = "info"


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
        try:
            organizer = accounts.authenticate(form.email.data or "", form.password.data or "",
                                              ip=request.remote_addr)
        except accounts.LoginThrottled as exc:
            organizer, error = None, str(exc)
        else:
            if organizer is None:
                error = "That email and password do not match an organizer account."
        db.session.commit()  # keeps the failure count
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
