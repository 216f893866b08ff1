"""ASGI entry point: uvicorn serves pages and the Server-Sent-Events streams from here."""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "voxweb.settings")

application = get_asgi_application()
