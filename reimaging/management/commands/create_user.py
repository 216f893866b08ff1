"""Create (or update) a user with a role, for deployments without the admin."""

import getpass
import os
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from reimaging.roles import ROLES
from reimaging.services import user_set_role


class Command(BaseCommand):
    """create_user NAME --role ROLE; the password comes from an environment variable or a prompt, never argv."""

    help = "Create or update a user and give them a role (viewer, operator or admin)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("username")
        parser.add_argument("--role", choices=ROLES, required=True)
        parser.add_argument("--email", default="")
        parser.add_argument(
            "--password-env",
            metavar="VAR",
            help="Read the password from this environment variable (otherwise you are prompted).",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        from django.contrib.auth import get_user_model

        if options["password_env"]:
            password = os.environ.get(options["password_env"], "")
            if not password:
                raise CommandError(f"The environment variable {options['password_env']} is empty or not set.")
        else:
            password = getpass.getpass("Password: ")
            if password != getpass.getpass("Password (again): "):
                raise CommandError("The two passwords differ.")
        user_model = get_user_model()
        user, created = user_model.objects.get_or_create(username=options["username"])
        user.email = options["email"] or user.email
        user.set_password(password)
        user.save()
        user_set_role(user=user, role=options["role"])
        verb = "Created" if created else "Updated"
        self.stdout.write(self.style.SUCCESS(f"{verb} {user.username} with role {options['role']}."))
