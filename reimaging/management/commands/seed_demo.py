"""Seed the demo: the users admin / operator / viewer and one account per simulated customer."""

import os
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandParser

from reimaging import roles
from reimaging.models import Account
from reimaging.services import user_set_role


class Command(BaseCommand):
    """seed_demo: idempotent, so `make demo` can run it every time."""

    help = "Create the demo users (password from DEMO_PASSWORD) and accounts for voxsim's customers."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--api-url", default=settings.VOXEL_API_URL)
        parser.add_argument("--redis-url", default=None, help="Unused here; accepted so the demo can pass it.")
        parser.add_argument("--no-sync", action="store_true", help="Do not sync the inventory after seeding.")

    def handle(self, *args: Any, **options: Any) -> None:
        from voxsim import CUSTOMERS

        password = os.environ.get("DEMO_PASSWORD") or "voxweb-demo"
        user_model = get_user_model()
        for role in roles.ROLES:
            user, _ = user_model.objects.get_or_create(username=role, defaults={"email": f"{role}@example.com"})
            user.set_password(password)
            user.save()
            user_set_role(user=user, role=role)
        accounts = []
        for customer in CUSTOMERS:
            # The demo acts through one staff key for every customer, as a support team's reseller key would.
            account, _ = Account.objects.get_or_create(
                name=customer.name,
                defaults={"api_url": options["api_url"], "api_key": settings.VOXEL_API_KEY, "api_secret_encrypted": ""},
            )
            account.api_url = options["api_url"]
            account.api_key = settings.VOXEL_API_KEY
            account.api_secret = settings.VOXEL_API_SECRET
            account.customer_id = str(customer.customer_id)
            account.save()
            accounts.append(account)
        self.stdout.write(f"Seeded users {', '.join(roles.ROLES)} and {len(accounts)} accounts.")
        if not options["no_sync"]:
            from reimaging.services import inventory_sync

            for account in accounts:
                result = inventory_sync(account=account)
                self.stdout.write(f"Synced {account.name}: {result}")
