"""Top-level URLs: the admin, authentication, health and the reimaging app."""

from django.contrib import admin
from django.urls import include, path

from reimaging import streams
from reimaging.views import core

admin.site.site_header = "voxweb administration"
admin.site.site_title = "voxweb admin"

urlpatterns = [
    path("admin/", admin.site.urls),
    path("accounts/", include("django.contrib.auth.urls")),
    path("healthz", core.healthz, name="healthz"),
    path("stream/", streams.event_stream, name="event_stream"),
    path("", include("reimaging.urls")),
]
