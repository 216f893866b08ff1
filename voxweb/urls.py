"""Top-level URLs: the admin, authentication, health and the reimaging app."""

from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path

from reimaging import streams
from reimaging.views import core

admin.site.site_header = "voxweb administration"
admin.site.site_title = "voxweb admin"

urlpatterns = [
    path("admin/", admin.site.urls),
    # Log in and out, and change one's own password. Not Django's password-reset-by-email views: voxweb sends no
    # mail, and a lost password is reset by an admin (the lockout page says so).
    path("accounts/login/", auth_views.LoginView.as_view(), name="login"),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("accounts/password_change/", auth_views.PasswordChangeView.as_view(), name="password_change"),
    path("accounts/password_change/done/", auth_views.PasswordChangeDoneView.as_view(), name="password_change_done"),
    path("healthz", core.healthz, name="healthz"),
    path("stream/", streams.event_stream, name="event_stream"),
    path("", include("reimaging.urls")),
]
