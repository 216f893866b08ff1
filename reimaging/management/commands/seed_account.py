"""Create the first Account from the VOXEL_API_* settings, when there is none yet."""

from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandParser
from django.db import transaction

from reimaging.models import Account


class Command(BaseCommand):
    """seed_account: idempotent; later accounts are added by admins in the Django admin."""

    help = "Create the first account from VOXEL_API_URL, VOXEL_API_KEY, VOXEL_API_SECRET and VOXEL_CUSTOMER_ID."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--name", default="", help="The account's name (default: from the customer id).")

    def handle(self, *args: Any, **options: Any) -> None:
        with transaction.atomic():
            if Account.objects.select_for_update().exists():
                self.stdout.write("An account exists already; nothing to do (admins add more in the Django admin).")
                return
            customer_id = settings.VOXEL_CUSTOMER_ID or ""
            name = options["name"] or (f"Customer {customer_id}" if customer_id else "Voxel account")
            account = Account(name=name, api_url=settings.VOXEL_API_URL, api_key=settings.VOXEL_API_KEY)
            account.customer_id = customer_id
            account.api_secret = settings.VOXEL_API_SECRET
            account.save()
        self.stdout.write(f"Created the account {account.name!r} for {account.api_url}.")
