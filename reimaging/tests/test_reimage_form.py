"""ReimageForm: every rule of design.md §4 with its message, what a valid form sends, and how it renders."""

from __future__ import annotations

import re
from types import SimpleNamespace
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.template.loader import render_to_string
from django.test import RequestFactory

from reimaging.forms import ConfirmForm, ReimageForm
from reimaging.models import Vlan
from reimaging.tests.factories import (
    DeviceFactory,
    ImageFactory,
    ImageVersionFactory,
    IpAssignmentFactory,
    ReimageJobFactory,
    UserFactory,
    VlanFactory,
)

pytestmark = pytest.mark.django_db
BACKEND, FRONTEND = Vlan.Kind.BACKEND, Vlan.Kind.FRONTEND
PASSWORD = "Pl41n-text-Passw0rd!"


def make_world(**device: Any) -> SimpleNamespace:
    """A 4-core, 500 GB VoxSERVER with two images, a backend and a frontend VLAN, and one current address."""
    fields = {"label": "web1.example.com", "cores": 4, "disk_gb": 500, "facility": "lga7", **device}
    dev = DeviceFactory(**fields)
    account = dev.account
    image = ImageFactory(account=account, summary="Debian 12, 64-bit")
    default = ImageVersionFactory(image=image, label="2024-06-01", is_default=True)
    older = ImageVersionFactory(image=image, label="2024-01-01")
    other_image = ImageFactory(account=account, summary="CentOS 9, 64-bit")
    other_version = ImageVersionFactory(image=other_image, label="9.3")
    backend = VlanFactory(
        account=account, kind=BACKEND, facility="lga7", subnets=[{"network": "10.20.0.0/24", "gateway": "10.20.0.1"}]
    )
    frontend = VlanFactory(
        account=account,
        kind=FRONTEND,
        facility="lga7",
        subnets=[{"network": "203.0.113.0/24", "gateway": "203.0.113.1"}],
    )
    current = IpAssignmentFactory(device=dev, kind=BACKEND, address="10.20.0.5")
    return SimpleNamespace(
        device=dev,
        account=account,
        image=image,
        default=default,
        older=older,
        other_image=other_image,
        other_version=other_version,
        backend=backend,
        frontend=frontend,
        current=current,
    )


def valid_data(world: SimpleNamespace, **overrides: Any) -> dict[str, Any]:
    """Form data that passes every check; overrides replace or add inputs."""
    data = {
        "hostname": "fresh.example.com",
        "image_id": str(world.image.api_id),
        "image_version_id": "",
        "swap_space": "4",
        "reason": "ticket #4711",
    }
    data.update(overrides)
    return data


@pytest.fixture
def world() -> SimpleNamespace:
    return make_world()


def bound(world: SimpleNamespace, files: dict | None = None, **overrides: Any) -> ReimageForm:
    form = ReimageForm(valid_data(world, **overrides), files or {}, device=world.device)
    form.is_valid()
    return form


def errors(form: ReimageForm, name: str) -> str:
    return " ".join(form.errors.get(name, []))


# --- Rules ---------------------------------------------------------------------------------------------------------


def test_form_valid_data_gives_api_params_without_device_id_or_secrets(world) -> None:
    form = bound(world, admin_password=PASSWORD, ssh_username="deploy", backend_ip="10.20.0.9", voxel_access="on")
    assert form.is_valid(), form.errors
    assert form.api_params() == {
        "hostname": "fresh.example.com",
        "image_id": world.image.api_id,
        "swap_space": 4,
        "ssh_username": "deploy",
        "voxel_access": "true",
        "backend_ip": "10.20.0.9",
    }
    assert form.secrets() == {"admin_password": PASSWORD}


def test_form_initial_swap_is_one_gb_per_core(world, rf: RequestFactory) -> None:
    world.device.cores = 12
    form = ReimageForm(device=world.device, initial={"swap_space": world.device.default_swap_gb()})
    assert 'value="12"' in str(form["swap_space"])
    assert "Default 12 GB (1 GB per core, 12 cores); the disk is 500 GB." in form["swap_space"].help_text


@pytest.mark.parametrize(
    ("swap", "message"),
    [
        ("0", "Swap must be at least 1 GB"),
        ("-4", "Swap must be at least 1 GB"),
        ("2.5", "whole number of GB"),
        ("four", "whole number of GB"),
        ("500", "does not fit on this device's 500 GB disk: enter less than 500 GB"),
        ("99999999999999999999", "does not fit on this device's 500 GB disk"),
    ],
)
def test_form_swap_refused(world, swap: str, message: str) -> None:
    assert message in errors(bound(world, swap_space=swap), "swap_space")


def test_form_swap_blank_is_the_api_default(world) -> None:
    form = bound(world, swap_space="")
    assert form.is_valid()
    assert "swap_space" not in form.api_params()


def test_form_swap_unknown_disk_is_warned_not_refused() -> None:
    world = make_world(disk_gb=None)
    form = bound(world, swap_space="64")
    assert form.is_valid()
    assert "did not report this device's disk size" in form.warnings["swap_space"]


def test_form_hostname_trimmed_warned_and_refused(world) -> None:
    form = bound(world, hostname="  fresh.example.com  ")
    assert form.cleaned_data["hostname"] == "fresh.example.com"
    form = bound(world, hostname="fresh")
    assert form.is_valid() and "not fully qualified" in form.warnings["hostname"]
    form = bound(world, hostname="fresh_1.example.com")
    assert "contains “_”" in errors(form, "hostname")


def test_form_images_are_the_devices_accounts_and_not_removed(world) -> None:
    stranger = ImageFactory()  # another account
    removed = ImageFactory(account=world.account, is_removed=True)
    form = ReimageForm(device=world.device)
    values = [str(v) for v, _ in form.fields["image_id"].choices]
    assert str(world.image.api_id) in values and str(world.other_image.api_id) in values
    assert str(stranger.api_id) not in values and str(removed.api_id) not in values
    for image in (stranger, removed):
        assert "is not one of this customer's images" in errors(bound(world, image_id=str(image.api_id)), "image_id")
    assert "Choose the OS image" in errors(bound(world, image_id=""), "image_id")


def test_form_version_only_among_the_images_versions(world) -> None:
    assert bound(world, image_version_id=str(world.older.api_id)).is_valid()
    form = bound(world, image_version_id=str(world.other_version.api_id))
    assert "is not a version of the chosen image" in errors(form, "image_version_id")
    # Without an image chosen (no JavaScript), every version is offered; the pair is still checked.
    form = bound(world, image_id=str(world.other_image.api_id), image_version_id=str(world.default.api_id))
    assert "image_version_id" in form.errors


def test_form_version_select_follows_the_image_and_names_the_default(world) -> None:
    form = ReimageForm(device=world.device, initial={"image_id": world.image.api_id})
    html = str(form["image_version_id"])
    assert "2024-06-01 (default)" in html and "2024-01-01" in html
    assert "The image&#x27;s default (2024-06-01)" in html
    assert "9.3" not in html
    grouped = str(ReimageForm(device=world.device)["image_version_id"])
    assert "<optgroup" in grouped and "9.3" in grouped and "2024-06-01 (default)" in grouped


def test_form_ips_checked_against_the_devices_vlans(world) -> None:
    assert bound(world, backend_ip="10.20.0.5", frontend_ip="203.0.113.9").is_valid()
    assert "is the gateway" in errors(bound(world, backend_ip="10.20.0.1"), "backend_ip")
    IpAssignmentFactory(device=DeviceFactory(account=world.account), kind=FRONTEND, address="203.0.113.9")
    assert "is held by device" in errors(bound(world, frontend_ip="203.0.113.9"), "frontend_ip")


def test_form_passwords_kept_exactly_never_rendered(world) -> None:
    spaced = f"  {PASSWORD}  "
    form = bound(world, admin_password=spaced, console_password="x" * 129, ssh_password="a\tb")
    assert form.cleaned_data["admin_password"] == spaced
    assert "too long" in errors(form, "console_password")
    assert "invisible character" in errors(form, "ssh_password")
    html = "".join(str(form[name]) for name in ("admin_password", "console_password", "ssh_password"))
    assert PASSWORD not in html and "x" * 129 not in html and 'type="password"' in html
    assert all(PASSWORD not in e and "x" * 100 not in e for e in form.errors.as_text().splitlines())


def test_form_ssh_username_optional_and_checked(world) -> None:
    assert bound(world, ssh_username="").is_valid()
    assert bound(world, ssh_username="deploy_1").is_valid()
    assert "A username begins with a letter" in errors(bound(world, ssh_username="1 root"), "ssh_username")


def test_form_voxel_access_sent_as_true_or_false(world) -> None:
    assert bound(world).api_params()["voxel_access"] == "false"
    assert bound(world, voxel_access="on").api_params()["voxel_access"] == "true"
    html = str(ReimageForm(device=world.device)["voxel_access"])
    assert 'type="checkbox"' in html and "checked" not in html


def test_form_reason_required(world) -> None:
    assert "Say why this device is reimaged" in errors(bound(world, reason="  "), "reason")


# --- The post-install script ---------------------------------------------------------------------------------------


def test_form_script_pasted_is_kept_exactly(world) -> None:
    script = "\n  #!/bin/sh\r\necho 'hi'  \r\n\n\t\n"
    form = bound(world, postinstall_script=script)
    assert form.is_valid()
    assert form.api_params()["postinstall_script"] == script
    assert "CR LF" in form.warnings["postinstall_script"]


def test_form_script_size_capped(world, settings) -> None:
    settings.REIMAGE_POSTINSTALL_MAX_BYTES = 100
    assert bound(world, postinstall_script="é" * 50).is_valid()  # 100 bytes in UTF-8
    form = bound(world, postinstall_script="é" * 51)
    assert "The script is 102 bytes; the limit is 100 bytes" in errors(form, "postinstall_script")
    upload = SimpleUploadedFile("s.sh", b"x" * 101)
    assert "The uploaded script is 101 bytes" in errors(
        bound(world, {"postinstall_upload": upload}), "postinstall_upload"
    )


def test_form_script_uploaded_as_utf8(world) -> None:
    raw = "#!/bin/sh\r\necho 'grüß'\n".encode()
    form = bound(world, {"postinstall_upload": SimpleUploadedFile("s.sh", raw)})
    assert form.is_valid(), form.errors
    assert form.api_params()["postinstall_script"] == raw.decode()


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (b"echo \xff\xfe", "is not UTF-8 text (the byte at position 5 cannot be read)"),
        (b"\x00\x01ELF", "contains NUL bytes"),
        (b"", "The uploaded file is empty"),
    ],
)
def test_form_script_upload_refused(world, raw: bytes, message: str) -> None:
    form = bound(world, {"postinstall_upload": SimpleUploadedFile("s.bin", raw)})
    assert message in errors(form, "postinstall_upload")


def test_form_script_pasted_and_uploaded_is_refused(world) -> None:
    form = bound(world, {"postinstall_upload": SimpleUploadedFile("s.sh", b"echo a")}, postinstall_script="echo b")
    assert "paste it or upload a file, not both" in errors(form, "postinstall_upload")
    assert "Choose the file again" in form["postinstall_upload"].note
    assert "id_postinstall_upload_note" in str(form["postinstall_upload"])


# --- The device's state --------------------------------------------------------------------------------------------


def test_form_refused_for_a_locked_or_busy_device(world) -> None:
    from reimaging.services import device_lock

    job = ReimageJobFactory(device=world.device)
    assert f"reimage #{job.pk}" in " ".join(bound(world).non_field_errors())
    job.state = "cancelled"
    job.save()
    device_lock(device=world.device, user=UserFactory(), reason="customer's backup running")
    assert "customer's backup running" in " ".join(bound(world).non_field_errors())


# --- Rendering and accessibility -----------------------------------------------------------------------------------


def _render(form: ReimageForm) -> str:
    request = RequestFactory().get("/")
    request.user = UserFactory.create()
    context = {"form": form, "device": form.device}
    return render_to_string("reimaging/reimage_form.html", context, request=request)


def test_form_every_input_has_a_label_and_errors_are_tied_to_fields(world) -> None:
    form = bound(world, hostname="bad_host", swap_space="0", backend_ip="10.20.0.1", admin_password=PASSWORD)
    html = _render(form)
    inputs = re.findall(r"<(?:input|select|textarea)\b[^>]*>", html)
    for tag in inputs:
        if 'type="hidden"' in tag:
            continue
        field_id = re.search(r'\sid="([^"]+)"', tag)
        assert field_id, tag
        assert f'for="{field_id.group(1)}"' in html, tag
    for name in ("hostname", "swap_space", "backend_ip"):
        tag = next(t for t in inputs if f'name="{name}"' in t)
        assert 'aria-invalid="true"' in tag
        described = re.search(r'aria-describedby="([^"]+)"', tag).group(1).split()
        assert f"id_{name}_error" in described
        assert all(f'id="{ref}"' in html for ref in described)
    assert PASSWORD not in html
    password = next(t for t in inputs if 'name="admin_password"' in t)
    assert "id_admin_password_note" in password
    assert "Re-enter: passwords are never sent back to the browser." in html


def test_form_shows_current_addresses_free_ones_and_what_happens(world) -> None:
    html = _render(ReimageForm(device=world.device))
    assert "Now: 10.20.0.5 (backend)." in html
    assert "Both blank: the current assignment is kept." in html
    assert '<datalist id="backend_ip-free"><option value="10.20.0.2">' in html
    assert '<option value="10.20.0.5">' in html  # its own address is free for it
    assert '<option value="10.20.0.1">' not in html
    html = _render(bound(world, frontend_ip="203.0.113.9"))
    assert "the current assignment will be discarded" in html


def test_form_renders_exact_script_and_inline_checks(world) -> None:
    html = _render(bound(world, postinstall_script="\necho a\n"))
    assert "<textarea" in html and "\n\necho a\n</textarea>" in html
    assert f'hx-post="/devices/{world.device.pk}/reimage/validate/?field=hostname"' in html
    assert 'hx-params="backend_ip,frontend_ip"' in html
    assert 'hx-target="#field-image_version_id"' in html


def test_confirm_form_accepts_hostname_or_id(world) -> None:
    device = world.device
    for typed in ("web1.example.com", " WEB1.example.com ", str(device.api_id)):
        assert ConfirmForm({"confirm": typed}, device=device).is_valid()
    for typed in ("", "web1", "fresh.example.com", str(device.pk + 100000)):
        assert not ConfirmForm({"confirm": typed}, device=device).is_valid()
