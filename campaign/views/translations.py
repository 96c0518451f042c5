"""Organizer pages of a letter's translations (translations.py), and an organizer's own
language for the organizer pages. On the admin blueprint (its login and role checks)."""
from __future__ import annotations

from flask import abort, flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _
from flask_babel import ngettext
from flask_login import current_user

from .. import audit, i18n, translations
from ..admin_forms import LanguageForm, TranslationForm
from ..database import writing
from ..errors import LetterError
from ..fields import ActionForm
from ..models import Letter
from .admin import bp, letter_or_404


@bp.route("/letters/<slug>/translations", methods=["GET", "POST"])
def translations_page(slug: str) -> ResponseReturnValue:
    """The letter's translations, and the form that adds one or changes one (`?language=`)."""
    letter = letter_or_404(slug)
    form = TranslationForm()
    if request.method == "GET":
        found = translations.get(letter, request.args.get("language", ""))
        if found is not None:
            form.process(obj=found)
    elif form.validate_on_submit():
        try:
            with writing():
                saved = translations.save(letter, form.language.data or "",
                                          form.title.data or "", form.recipient.data or "",
                                          form.body.data or "", form.text_change.data or "change")
        except LetterError as exc:
            form.language.errors = [str(exc)]
        else:
            flash(_("The %(language)s text is saved.",
                    language=i18n.language_name(saved.translation.language)), "success")
            if saved.asked:
                flash(ngettext("%(num)d signer of this text was asked to confirm the new one.",
                               "%(num)d signers of this text were asked to confirm the new one.",
                               saved.asked), "info")
            return redirect(url_for("admin.translations_page", slug=slug,
                                    language=saved.translation.language), code=303)
    return _page(letter, form), 200 if request.method == "GET" else 422


def _page(letter: Letter, form: TranslationForm) -> str:
    return render_template("admin/translations.html", letter=letter, form=form,
                           translations=translations.of(letter), action=ActionForm(),
                           signed=letter.status != "draft")


@bp.post("/letters/<slug>/translations/<language>/delete")
def delete_translation(slug: str, language: str) -> ResponseReturnValue:
    letter = letter_or_404(slug)
    if translations.get(letter, language) is None:
        abort(404)
    if ActionForm().validate_on_submit():
        with writing():
            gone = translations.delete(letter, language)
        if gone:
            flash(_("The %(language)s text is deleted; signatures made on it stay on the list.",
                    language=i18n.language_name(language)), "success")
    return redirect(url_for("admin.translations_page", slug=slug), code=303)


@bp.post("/language")
def choose_language() -> ResponseReturnValue:
    """The organizer's own language for the organizer pages ("": their browser's)."""
    form = LanguageForm()
    if form.validate_on_submit():
        chosen = i18n.known(form.language.data) or None
        with writing():
            before = current_user.language
            current_user.language = chosen
            audit.record(None, "organizer.language", chosen or "browser", before=before,
                         after=chosen)
    target = request.form.get("next", "")
    return redirect(target if target.startswith("/admin") else url_for("admin.letters_page"),
                    code=303)
