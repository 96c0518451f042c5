"""Campaign: coalition sign-on letters. create_app wires the pieces together and nothing more."""
from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from flask import Flask
from werkzeug.middleware.proxy_fix import ProxyFix

from . import accounts, cli, config, database, dates, i18n, paths, translations, views
from .extensions import csrf, db, mail, migrate


def create_app(test_config: Mapping[str, Any] | None = None, *, production: bool = False) -> Flask:
    app = Flask(
        __name__,
        instance_path=os.environ.get("CAMPAIGN_INSTANCE_PATH") or None,
        instance_relative_config=True,
        template_folder=str(paths.TEMPLATES),
    )
    config.load(app, test_config, production)
    if app.config["PROXIES"]:
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=app.config["PROXIES"],  # type: ignore[method-assign]
                                x_proto=app.config["PROXIES"], x_host=app.config["PROXIES"])

    db.init_app(app)
    database.init_app(app)
    migrate.init_app(app, db, directory=str(paths.MIGRATIONS))
    mail.init_app(app)
    csrf.init_app(app)
    accounts.init_app(app)
    dates.init_app(app)
    i18n.init_app(app)
    app.add_template_global(translations.title, "letter_title")

    views.init_app(app)
    cli.init_app(app)
    return app
