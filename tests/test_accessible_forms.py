"""The form macros (templates/_macros.html) as HTML: no attribute rendered as "None", each field
tied to its help and its message, and the error summary (GOV.UK's pattern) that links to each
invalid field, placed by a template or, failing that, at the top of the page by base.html.
Rendered without a database (bare_app); the browser test checks the same pages with axe-core."""
from __future__ import annotations

from typing import Any

import pytest
from bs4 import BeautifulSoup
from flask import render_template_string
from wtforms import BooleanField, HiddenField, RadioField, SelectField, StringField, TextAreaField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired

from campaign.fields import Form as BaseForm

PAGE = """{% extends "base.html" %}{% from "_macros.html" import error_summary, field %}
{% block content %}<form method="post">{{ summary }}{{ form.hidden }}
{{ field(form.name, autocomplete='name') }}{{ field(form.note, rows=3) }}{{ field(form.level) }}
{{ field(form.size) }}{{ field(form.agree) }}</form>{% endblock %}"""


class Form(BaseForm):
    class Meta:
        csrf = False

    hidden = HiddenField(validators=[DataRequired()])
    name = StringField("Your name", validators=[DataRequired()], description="As on your ID.")
    note = TextAreaField("A note")
    level = RadioField("Level", choices=[SelectChoice("local", "Local"),
                                         SelectChoice("state", "State")],
                       validators=[DataRequired()])
    size = SelectField("Size", choices=[SelectChoice("s", "Small"), SelectChoice("l", "Large")])
    agree = BooleanField("I agree", validators=[DataRequired()])


def render(app: Any, data: dict[str, str] | None, placed: bool = False) -> BeautifulSoup:
    """The page with the form, sent with `data` (None: not sent); `placed`: the template puts
    the error summary at the top of its form itself."""
    method = "GET" if data is None else "POST"
    with app.test_request_context("/", method=method, data=data or {}):
        form = Form()
        if data is not None:
            form.validate()
        source = PAGE.replace("{{ summary }}", "{{ error_summary(form) }}" if placed else "")
        return BeautifulSoup(render_template_string(source, form=form), "html.parser")


def attributes_named_none(page: BeautifulSoup) -> list[str]:
    return [f"<{tag.name} {name}>" for tag in page.find_all(True)
            for name, value in tag.attrs.items() if value == "None"]


def test_a_form_renders_no_attribute_as_none_sent_or_not(bare_app):
    for data in (None, {}, {"hidden": "x", "name": "Ana", "level": "local", "agree": "y"}):
        page = render(bare_app, data)
        assert attributes_named_none(page) == [], data
        assert page.find(id="name")["aria-describedby"].split()[0] == "name-help"
    untouched = render(bare_app, None)
    assert not untouched.find(id="note").has_attr("aria-describedby")
    assert not untouched.find(id="note").has_attr("aria-invalid")
    assert untouched.select(".error-summary") == []
    assert untouched.select("script[src$='errors.js']") == []
    assert untouched.title.get_text() == "Campaign"


def test_an_invalid_field_names_its_message_and_says_it_is_invalid(bare_app):
    page = render(bare_app, {"size": "s"})
    name = page.find(id="name")
    assert name["aria-invalid"] == "true"
    assert name["aria-describedby"].split() == ["name-help", "name-error"]
    assert page.find(id="name-error").get_text() == "This field is required."
    assert page.find(id="agree")["aria-invalid"] == "true"
    assert not page.find(id="size").has_attr("aria-invalid")
    assert page.find(id="name")["autocomplete"] == "name"  # the caller's attributes kept


@pytest.mark.parametrize("placed", [False, True], ids=["from-base", "placed"])
def test_the_summary_links_to_each_invalid_field_once_and_loads_its_script(bare_app, placed):
    page = render(bare_app, {"name": "Ana", "size": "l"}, placed=placed)
    (summary,) = page.select(".error-summary")
    assert summary["tabindex"] == "-1"
    title = page.find(id=summary["aria-labelledby"])
    assert title.get_text() == "There is a problem"
    links = {a["href"]: a.get_text() for a in summary.find_all("a")}
    assert links == {"#level-0": "Level: This field is required.",  # a radio group: its first
                     "#agree": "This field is required."}  # a box's label is a sentence
    assert all(page.find(id=href[1:]) is not None for href in links)
    assert summary.find(role="alert").get_text() == "Please correct the fields marked below."
    inside_form = summary.find_parent("form") is not None
    assert inside_form == placed  # placed at the top of the form, else at the top of <main>
    assert summary.find_parent("main") is not None
    assert len(page.select("script[src$='errors.js']")) == 1
    assert page.title.get_text() == "Error: Campaign"


def test_a_form_whose_only_error_is_hidden_still_says_there_is_a_problem(bare_app):
    page = render(bare_app, {"name": "Ana", "level": "local", "size": "s", "agree": "y"},
                  placed=True)
    (summary,) = page.select(".error-summary")
    assert summary.find("a") is None
    assert "There is a problem" in summary.get_text()
