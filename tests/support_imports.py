"""Uploading a spreadsheet as an organizer does: the upload, then its preview, then (when the
preview offers it) the confirmation that imports it."""
from __future__ import annotations

import io
from typing import Any
from urllib.parse import urlsplit

from bs4 import BeautifulSoup
from support import form_fields


def upload_only(client: Any, page: str, blob: bytes, name: str = "signers.csv",
                approved: bool = False) -> Any:
    """POST the file from the Signatures page's import form; the answer (a 303) unfollowed."""
    _, fields = form_fields(client.get(page).get_data(as_text=True), "Import")
    data = {**fields, "file": (io.BytesIO(blob), name)}
    if approved:
        data["approved"] = "y"
    return client.post(f"{page}/import", data=data, content_type="multipart/form-data")


def confirm_form(html: str) -> tuple[str, dict[str, str]] | None:
    """The preview's Confirm form (its action and fields), or None when it offers none."""
    for form in BeautifulSoup(html, "html.parser").find_all("form", method="post"):
        if form.find("button", string=lambda s: s and s.strip().startswith("Confirm")):
            token = form.find("input", attrs={"name": "csrf_token"})
            return form["action"], {"csrf_token": token["value"]}
    return None


def upload(client: Any, page: str, text: str | bytes, *, approved: bool = False,
           name: str = "signers.csv", follow: bool = True) -> Any:
    """Upload, and confirm the preview when it offers a Confirm button: the last answer,
    followed unless `follow` is False (then the confirmation's own 303, or the upload's when
    there was nothing to confirm)."""
    blob = text if isinstance(text, bytes) else text.encode()
    answer = upload_only(client, page, blob, name, approved)
    location = answer.headers.get("Location", "")
    if answer.status_code != 303 or "/imports/preview/" not in location:
        return client.get(urlsplit(location).path) if follow and location else answer
    preview = client.get(urlsplit(location).path)
    found = confirm_form(preview.get_data(as_text=True))
    if found is None:
        return preview
    action, fields = found
    return client.post(action, data=fields, follow_redirects=follow)
