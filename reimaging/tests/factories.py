"""factory_boy factories for the suite's database rows (API-shaped data comes from voxsim instead)."""

from __future__ import annotations

import factory
from django.contrib.auth import get_user_model

from reimaging.crypto import encrypt
from reimaging.models import Account, Device, Image, ImageVersion, IpAssignment, ReimageJob, Vlan


class UserFactory(factory.django.DjangoModelFactory):
    """A user without a role; password 'pw-<username>'."""

    class Meta:
        model = get_user_model()
        django_get_or_create = ("username",)
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"user{n}")

    @factory.post_generation
    def password(self, create: bool, extracted: str | None, **kwargs: object) -> None:
        self.set_password(extracted or f"pw-{self.username}")
        if create:
            self.save(update_fields=["password"])


class AccountFactory(factory.django.DjangoModelFactory):
    """An account; its API points at a closed port unless a test gives voxsim's URL."""

    class Meta:
        model = Account

    name = factory.Sequence(lambda n: f"Customer {n}")
    api_url = "http://127.0.0.1:9/version/1.0/"
    api_key = "staff-key"
    api_secret_encrypted = factory.LazyFunction(lambda: encrypt("staff-secret"))
    customer_id = "1001"


class VlanFactory(factory.django.DjangoModelFactory):
    """A VLAN with one /24 subnet whose gateway is .1."""

    class Meta:
        model = Vlan

    account = factory.SubFactory(AccountFactory)
    api_id = factory.Sequence(lambda n: str(100 + n))
    kind = Vlan.Kind.BACKEND
    facility = "lga7"
    description = factory.LazyAttribute(lambda v: f"{v.facility} {v.kind}; vlan {v.api_id}")
    subnets = factory.Sequence(
        lambda n: [{"network": f"10.{n // 250}.{n % 250}.0/24", "gateway": f"10.{n // 250}.{n % 250}.1"}]
    )


class ImageFactory(factory.django.DjangoModelFactory):
    """An OS image."""

    class Meta:
        model = Image

    account = factory.SubFactory(AccountFactory)
    api_id = factory.Sequence(lambda n: 1000 + n)
    summary = factory.Sequence(lambda n: f"Debian {n}, 64-bit, base install")
    os_family = "Linux"
    os_product = "Debian"


class ImageVersionFactory(factory.django.DjangoModelFactory):
    """A version of an image."""

    class Meta:
        model = ImageVersion

    image = factory.SubFactory(ImageFactory)
    api_id = factory.Sequence(lambda n: 5000 + n)
    label = factory.Sequence(lambda n: f"2011-02-{n % 28 + 1:02d}")
    is_default = False


class DeviceFactory(factory.django.DjangoModelFactory):
    """A VoxSERVER at lga7 with 4 cores and a 500 GB disk."""

    class Meta:
        model = Device

    account = factory.SubFactory(AccountFactory)
    api_id = factory.Sequence(lambda n: 300000 + n)
    label = factory.Sequence(lambda n: f"web{n}.example.com")
    kind = Device.Kind.VOXSERVER
    type_name = "Dedicated Server"
    facility = "lga7"
    facility_name = "LGA7 - New York"
    os_name = "CentOS 5"
    cores = 4
    memory_mb = 8192
    disk_gb = 500
    search_text = factory.LazyAttribute(lambda d: f"{d.label} {d.api_id} {d.os_name}".lower())


class IpAssignmentFactory(factory.django.DjangoModelFactory):
    """An address held by a device."""

    class Meta:
        model = IpAssignment

    device = factory.SubFactory(DeviceFactory)
    kind = Vlan.Kind.BACKEND
    address = factory.Sequence(lambda n: f"10.200.{n // 250}.{n % 250 + 2}")


class ReimageJobFactory(factory.django.DjangoModelFactory):
    """A queued job for a device, requested by a user."""

    class Meta:
        model = ReimageJob

    device = factory.SubFactory(DeviceFactory)
    account = factory.LazyAttribute(lambda j: j.device.account)
    requested_by = factory.SubFactory(UserFactory)
    requested_by_name = factory.LazyAttribute(lambda j: j.requested_by.username)
    reason = "ticket #1234"
    params = factory.LazyAttribute(lambda j: {"hostname": j.device.label, "image_id": 3})
