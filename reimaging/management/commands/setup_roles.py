"""Create or update the viewer, operator and admin groups with their permissions."""

from typing import Any

from django.core.management.base import BaseCommand

from reimaging.roles import ROLE_PERMISSIONS, roles_sync


class Command(BaseCommand):
    """setup_roles: idempotent; the data migration does the same on migrate."""

    help = "Create or update the role groups (viewer, operator, admin) and their permissions."

    def handle(self, *args: Any, **options: Any) -> None:
        roles_sync()
        for role, perms in ROLE_PERMISSIONS.items():
            self.stdout.write(f"{role}: {len(perms)} permissions")
