"""App configuration for reimaging."""

from django.apps import AppConfig


class ReimagingConfig(AppConfig):
    """Wires signals and checks the encryption key at start-up."""

    name = "reimaging"
    verbose_name = "Reimaging"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from reimaging import crypto, signals  # noqa: F401  (connects receivers)

        # Fail at start-up, naming the variable, rather than at the first job.
        crypto.fernet()
