"""The hostname and address rules of design.md §4, table by table: accepted, warned, or refused with which message."""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError

from reimaging.models import Vlan
from reimaging.tests.factories import AccountFactory, DeviceFactory, IpAssignmentFactory, VlanFactory
from reimaging.validators import FREE_PER_VLAN, free_addresses, hostname_clean, ip_clean

BACKEND, FRONTEND = Vlan.Kind.BACKEND, Vlan.Kind.FRONTEND

# (input, accepted as, warning fragment or None)
HOSTNAMES_ACCEPTED = [
    ("web1.example.com", "web1.example.com", None),
    ("  web1.example.com\t\n", "web1.example.com", None),
    ("A-1.b-2.C3", "A-1.b-2.C3", None),
    ("1.2", "1.2", None),
    ("x" * 63 + ".example.com", "x" * 63 + ".example.com", None),
    (".".join(["a" * 63] * 3 + ["b" * 61]), ".".join(["a" * 63] * 3 + ["b" * 61]), None),  # exactly 253
    ("web1", "web1", "not fully qualified"),
    ("a", "a", "a.example.com is recommended"),
]

# (input, fragment of the message that says what is wrong and how to fix it)
HOSTNAMES_REFUSED = [
    ("", "Enter the server's hostname"),
    ("   ", "Enter the server's hostname"),
    ("web_1.example.com", "contains “_”"),
    ("web 1.example.com", "contains a space"),
    ("web\t1.example.com", "U+0009"),
    ("münchen.example.com", "contains “ü”"),
    ("web1.example.com/", "contains “/”"),
    ("-web.example.com", "must begin with a letter or a digit, not “-”"),
    (".web.example.com", "must begin with a letter or a digit, not “.”"),
    ("web.example.com-", "must end with a letter or a digit, not “-”"),
    ("web.example.com.", "remove the final dot"),
    ("web..example.com", "empty part (two dots in a row)"),
    ("x" * 64 + ".example.com", "is 64 characters long; each part between dots may have at most 63"),
    (".".join(["a" * 63] * 4), "is 255 characters long; the limit is 253"),
    ("web-.example.com", "begins or ends with a dash"),
    ("web.-example.com", "begins or ends with a dash"),
]


@pytest.mark.parametrize(("value", "expected", "warning"), HOSTNAMES_ACCEPTED)
def test_hostname_accepted(value: str, expected: str, warning: str | None) -> None:
    name, warned = hostname_clean(value)
    assert name == expected
    if warning is None:
        assert warned is None
    else:
        assert warned is not None and warning in warned


@pytest.mark.parametrize(("value", "message"), HOSTNAMES_REFUSED)
def test_hostname_refused(value: str, message: str) -> None:
    with pytest.raises(ValidationError) as caught:
        hostname_clean(value)
    text = " ".join(caught.value.messages)
    assert message in text
    assert ":" in text or "e.g." in text  # every refusal says how to fix it


# --- Addresses -----------------------------------------------------------------------------------------------------


@pytest.fixture
def net(db: None) -> dict:
    """A device at lga7 with a backend /24 and a frontend /28 of its own account, and neighbours of every kind."""
    device = DeviceFactory(facility="lga7")
    account = device.account
    VlanFactory(
        account=account, kind=BACKEND, facility="lga7", subnets=[{"network": "10.20.0.0/24", "gateway": "10.20.0.1"}]
    )
    VlanFactory(
        account=account,
        kind=FRONTEND,
        facility="lga7",
        subnets=[{"network": "203.0.113.16/28", "gateway": "203.0.113.17"}],
    )
    # Not usable for this device: removed, another facility, another account.
    VlanFactory(account=account, kind=BACKEND, facility="lga7", is_removed=True, subnets=[{"network": "10.30.0.0/24"}])
    VlanFactory(account=account, kind=BACKEND, facility="ams2", subnets=[{"network": "10.40.0.0/24"}])
    VlanFactory(account=AccountFactory(), kind=BACKEND, facility="lga7", subnets=[{"network": "10.50.0.0/24"}])
    IpAssignmentFactory(device=device, kind=BACKEND, address="10.20.0.5")  # its own current address
    other = DeviceFactory(account=account, facility="lga7", label="db1.example.com")
    IpAssignmentFactory(device=other, kind=BACKEND, address="10.20.0.6")
    return {"device": device, "other": other}


# (kind, input, accepted as)
IPS_ACCEPTED = [
    (BACKEND, "10.20.0.2", "10.20.0.2"),
    (BACKEND, " 10.20.0.254 ", "10.20.0.254"),
    (BACKEND, "10.20.0.5", "10.20.0.5"),  # the device's own current address
    (BACKEND, "", ""),
    (FRONTEND, "203.0.113.18", "203.0.113.18"),
    (FRONTEND, "203.0.113.30", "203.0.113.30"),
]

# (kind, input, fragment of the message)
IPS_REFUSED = [
    (BACKEND, "10.20.0", "is not an IP address"),
    (BACKEND, "web1", "is not an IP address"),
    (BACKEND, "10.20.0.300", "is not an IP address"),
    (BACKEND, "fe80::1%eth0", "is not an IP address"),
    (BACKEND, "10.20.0.9/24", "without a prefix length"),
    (BACKEND, "10.20.0.0", "is the network address of 10.20.0.0/24"),
    (BACKEND, "10.20.0.255", "is the broadcast address of 10.20.0.0/24"),
    (BACKEND, "10.20.0.1", "is the gateway of 10.20.0.0/24"),
    (BACKEND, "10.20.0.6", "is held by device"),
    (BACKEND, "10.99.0.9", "is not in the customer's private (backend) VLAN subnets at lga7 (10.20.0.0/24)"),
    (BACKEND, "10.30.0.9", "is not in the customer's"),  # a removed VLAN
    (BACKEND, "10.40.0.9", "is not in the customer's"),  # another facility
    (BACKEND, "10.50.0.9", "is not in the customer's"),  # another account
    (BACKEND, "203.0.113.18", "is not in the customer's private (backend)"),  # a public address as the private one
    (FRONTEND, "10.20.0.9", "is not in the customer's public (frontend) VLAN subnets"),
    (FRONTEND, "203.0.113.16", "is the network address"),
    (FRONTEND, "203.0.113.31", "is the broadcast address"),
    (FRONTEND, "203.0.113.17", "is the gateway"),
]


@pytest.mark.parametrize(("kind", "value", "expected"), IPS_ACCEPTED)
def test_ip_accepted(net: dict, kind: str, value: str, expected: str) -> None:
    assert ip_clean(value, device=net["device"], kind=kind) == expected


@pytest.mark.parametrize(("kind", "value", "message"), IPS_REFUSED)
def test_ip_refused(net: dict, kind: str, value: str, message: str) -> None:
    with pytest.raises(ValidationError) as caught:
        ip_clean(value, device=net["device"], kind=kind)
    assert message in " ".join(caught.value.messages)


def test_ip_refusal_names_the_holder(net: dict) -> None:
    with pytest.raises(ValidationError) as caught:
        ip_clean("10.20.0.6", device=net["device"], kind=BACKEND)
    assert f"device {net['other'].api_id} (db1.example.com)" in caught.value.messages[0]


def test_ip_refused_when_the_customer_has_no_vlan_there(db: None) -> None:
    device = DeviceFactory(facility="sin1")
    with pytest.raises(ValidationError) as caught:
        ip_clean("10.0.0.5", device=device, kind=FRONTEND)
    assert "has no public (frontend) VLAN at sin1" in caught.value.messages[0]
    assert "leave this blank" in caught.value.messages[0]


def test_ip_point_to_point_subnets_have_no_network_or_broadcast(db: None) -> None:
    device = DeviceFactory()
    VlanFactory(account=device.account, kind=BACKEND, facility=device.facility, subnets=[{"network": "10.9.9.8/31"}])
    assert ip_clean("10.9.9.8", device=device, kind=BACKEND) == "10.9.9.8"
    assert ip_clean("10.9.9.9", device=device, kind=BACKEND) == "10.9.9.9"


def test_ip_broken_subnet_rows_are_skipped(db: None) -> None:
    device = DeviceFactory()
    subnets = [{"network": "nonsense"}, "10.0.0.0/8", {"gateway": "x"}, {"network": "10.7.0.0/24", "gateway": "bad"}]
    VlanFactory(account=device.account, kind=BACKEND, facility=device.facility, subnets=subnets)
    assert ip_clean("10.7.0.9", device=device, kind=BACKEND) == "10.7.0.9"


def test_free_addresses_skip_gateway_and_held_and_keep_own(net: dict) -> None:
    (offer,) = free_addresses(device=net["device"], kind=BACKEND)
    assert offer.networks == ["10.20.0.0/24"]
    assert offer.addresses[:5] == ["10.20.0.2", "10.20.0.3", "10.20.0.4", "10.20.0.5", "10.20.0.7"]
    assert len(offer.addresses) == FREE_PER_VLAN


def test_free_addresses_on_a_slash_16_are_bounded(db: None, django_assert_max_num_queries) -> None:
    device = DeviceFactory()
    VlanFactory(account=device.account, kind=BACKEND, facility=device.facility, subnets=[{"network": "10.8.0.0/16"}])
    with django_assert_max_num_queries(4):
        (offer,) = free_addresses(device=device, kind=BACKEND, per_vlan=10)
    assert offer.addresses == [f"10.8.0.{n}" for n in range(1, 11)]


def test_free_addresses_give_up_on_a_full_vlan_without_scanning_it_all(db: None, django_assert_max_num_queries) -> None:
    device = DeviceFactory()
    VlanFactory(account=device.account, kind=FRONTEND, facility=device.facility, subnets=[{"network": "10.6.0.0/29"}])
    holder = DeviceFactory(account=device.account)
    for n in range(1, 7):
        IpAssignmentFactory(device=holder, kind=FRONTEND, address=f"10.6.0.{n}")
    (offer,) = free_addresses(device=device, kind=FRONTEND)
    assert offer.addresses == []
    VlanFactory(account=device.account, kind=BACKEND, facility=device.facility, subnets=[{"network": "10.0.0.0/8"}])
    for n in range(1, 300):
        IpAssignmentFactory(device=holder, kind=BACKEND, address=f"10.0.{n // 256}.{n % 256}")
    with django_assert_max_num_queries(20):
        (offer,) = free_addresses(device=device, kind=BACKEND)
    assert offer.addresses[0] == "10.0.1.44"
