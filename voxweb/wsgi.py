"""WSGI entry point, for servers without ASGI (live streams need ASGI)."""

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "voxweb.settings")

application = get_wsgi_application()
