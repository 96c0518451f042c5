"""Production entry point: `gunicorn wsgi:app`."""
from campaign import create_app

app = create_app(production=True)
