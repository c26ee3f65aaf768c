"""WSGI entry point: `gunicorn wsgi:app`, `flask --app wsgi ...`."""

import sys

from config import ConfigError
from webapp import create_app

try:
    app = create_app()
except ConfigError as refusal:
    # Settings the app refuses: its one line, then exit status 4, which gunicorn's master takes for "the app
    # cannot load" and stops, instead of booting worker after worker with the same settings.
    print(refusal.code, file=sys.stderr)
    sys.exit(4)
