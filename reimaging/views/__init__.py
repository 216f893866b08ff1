"""Views, one module per screen family: core (home, health), devices, reimage, jobs, audit."""

from django.http import HttpRequest
from django_htmx.middleware import HtmxDetails


class HtmxHttpRequest(HttpRequest):
    """The request as django-htmx's middleware leaves it (for type checking)."""

    htmx: HtmxDetails
