"""The reimage form (every rule of design.md §4), the typed confirmation, and the review token that carries the form.

The same ReimageForm checks the submit, each field as it is left (inline validation) and the confirm step, so a
rule holds in one place. Passwords are never rendered back; between review and confirm they travel only inside
an expiring Fernet token bound to the user and the device.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cached_property
from typing import Any, cast

from cryptography.fernet import InvalidToken
from django import forms
from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import UploadedFile
from django.forms.boundfield import BoundField
from django.urls import reverse

from reimaging.crypto import fernet
from reimaging.models import Device, Image, ImageVersion, IpAssignment, Vlan
from reimaging.services import device_refusal
from reimaging.services.jobs import SECRET_PARAMS
from reimaging.validators import VlanOffer, free_addresses, hostname_clean, ip_clean

IP_FIELDS = ("backend_ip", "frontend_ip")
# The reimage parameters in the order the review lists them (device_id comes first, from the device).
API_ORDER = (
    "hostname",
    "image_id",
    "image_version_id",
    "postinstall_script",
    "swap_space",
    "admin_password",
    "console_password",
    "ssh_username",
    "ssh_password",
    "voxel_access",
    "backend_ip",
    "frontend_ip",
)
IP_KINDS = {"backend_ip": Vlan.Kind.BACKEND, "frontend_ip": Vlan.Kind.FRONTEND}
# Fields checked as they are left, and the other fields each check needs.
INLINE_FIELDS: dict[str, tuple[str, ...]] = {
    "hostname": ("hostname",),
    "image_version_id": ("image_id", "image_version_id"),
    "swap_space": ("swap_space",),
    "ssh_username": ("ssh_username",),
    "backend_ip": IP_FIELDS,
    "frontend_ip": IP_FIELDS,
    "postinstall_script": ("postinstall_script",),
    "reason": ("reason",),
}
PASSWORD_MAX = 128
SSH_USERNAME_MAX = 32
REENTER_NOTE = "Re-enter: passwords are never sent back to the browser."
REVIEW_MAX_AGE = getattr(settings, "REIMAGE_REVIEW_MAX_AGE", 15 * 60)


def _size(n: int) -> str:
    return f"{n / 1024:.0f} KiB" if n >= 1024 else f"{n} bytes"


class ReimageBoundField(BoundField):
    """A bound field that also knows its warning and note, and names them in aria-describedby."""

    @property
    def warning(self) -> str:
        return getattr(self.form, "warnings", {}).get(self.name, "")

    @property
    def note(self) -> str:
        if self.name in getattr(self.form, "passwords_dropped", ()):
            return REENTER_NOTE
        if self.name == "postinstall_upload" and self.form.files.get(self.name):
            return "Choose the file again if you still want it: a browser cannot keep a chosen file across pages."
        return ""

    @property
    def aria_describedby(self) -> str | None:
        if self.field.widget.attrs.get("aria-describedby") or not self.auto_id:
            return None
        parts = [
            ("helptext", bool(self.help_text)),
            ("warning", bool(self.warning)),
            ("note", bool(self.note)),
            ("error", bool(self.errors)),
        ]
        return " ".join(f"{self.auto_id}_{suffix}" for suffix, shown in parts if shown) or None


class ReimageForm(forms.Form):
    """The parameters of voxel.voxservers.reimage for one device, by their API names, plus the reason."""

    bound_field_class = ReimageBoundField

    hostname = forms.CharField(
        label="Hostname",
        help_text="The server's name after the reimage: letters, digits, dashes and dots, e.g. web1.example.com.",
        error_messages={"required": "Enter the server's hostname, e.g. web1.example.com."},
    )
    image_id = forms.TypedChoiceField(
        label="OS image",
        coerce=int,
        error_messages={
            "required": "Choose the OS image to install.",
            "invalid_choice": "Image %(value)s is not one of this customer's images (it may have been removed since "
            "the last sync): choose one from the list.",
        },
    )
    image_version_id = forms.TypedChoiceField(
        label="Image version",
        coerce=int,
        required=False,
        empty_value=None,
        error_messages={
            "invalid_choice": "Version %(value)s is not a version of the chosen image: choose one of its versions, or "
            "leave it on the default.",
        },
    )
    swap_space = forms.IntegerField(
        label="Swap space (GB)",
        required=False,
        error_messages={"invalid": "Enter the swap space as a whole number of GB, e.g. 4."},
    )
    backend_ip = forms.CharField(label="Private (backend) address", required=False)
    frontend_ip = forms.CharField(label="Public (frontend) address", required=False)
    admin_password = forms.CharField(
        label="Admin password",
        required=False,
        strip=False,
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "new-password"}),
        help_text="Optional. Leave blank and the API generates one, readable later on the job page.",
    )
    console_password = forms.CharField(
        label="Console password",
        required=False,
        strip=False,
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "new-password"}),
        help_text="Optional. Leave blank and the API generates one, readable later on the job page.",
    )
    ssh_username = forms.CharField(
        label="SSH username",
        required=False,
        help_text="Optional. Leave blank for the image's default user.",
        widget=forms.TextInput(attrs={"autocomplete": "off"}),
    )
    ssh_password = forms.CharField(
        label="SSH password",
        required=False,
        strip=False,
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "new-password"}),
        help_text="Optional. Leave blank and the API generates one, readable later on the job page.",
    )
    voxel_access = forms.BooleanField(
        label="Allow provider staff access",
        required=False,
        help_text="When ticked, the provider's (Voxel's) support staff may log in to the server to help with "
        "support. Off unless the customer asked for it.",
    )
    postinstall_script = forms.CharField(
        label="Post-install script (paste)",
        required=False,
        strip=False,
        widget=forms.Textarea(attrs={"rows": 8, "spellcheck": "false"}),
    )
    postinstall_upload = forms.FileField(
        label="…or upload the script",
        required=False,
        error_messages={"empty": "The uploaded file is empty: choose the script file again, or paste the script."},
    )
    reason = forms.CharField(
        label="Reason",
        max_length=1000,
        help_text="A ticket reference or a sentence on why this server is reimaged; kept with the job for audit.",
        error_messages={"required": "Say why this device is reimaged: a ticket reference (e.g. #1234) or a sentence."},
    )

    def __init__(self, *args: Any, device: Device, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.device = device
        self.warnings: dict[str, str] = {}
        # Passwords the user typed that this rendering cannot show again (they never are).
        self.passwords_dropped = {n for n in SECRET_PARAMS if self.is_bound and self.data.get(n)}
        self.max_script = settings.REIMAGE_POSTINSTALL_MAX_BYTES
        self.images = list(Image.objects.filter(account_id=device.account_id, is_removed=False))
        cast(forms.ChoiceField, self.fields["image_id"]).choices = [("", "Choose an image…")] + [
            (str(i.api_id), f"{i.summary} (#{i.api_id})") for i in self.images
        ]
        self.image = self._image_named(self.data.get("image_id") if self.is_bound else self.initial.get("image_id"))
        cast(forms.ChoiceField, self.fields["image_version_id"]).choices = self._version_choices()
        swap = self.fields["swap_space"]
        default_swap = device.default_swap_gb()
        disk = f"the disk is {device.disk_gb} GB" if device.disk_gb else "the disk size is unknown"
        swap.help_text = f"Whole GB. Default {default_swap} GB (1 GB per core, {device.cores or '?'} cores); {disk}."
        self.fields["postinstall_upload"].help_text = (
            f"Paste the script or upload it as a UTF-8 text file, up to {_size(self.max_script)}. It is sent exactly "
            "as given."
        )
        for name in IP_FIELDS:
            kind = IP_KINDS[name]
            current = ", ".join(a.address for a in self.current_ips if a.kind == kind) or "none"
            self.fields[name].help_text = (
                f"Optional. A free host address in the customer's {Vlan.Kind(kind).label} VLAN at "
                f"{device.facility or '(no facility)'}. Now: {current}."
            )
            self.fields[name].widget.attrs.update({"list": f"{name}-free", "autocomplete": "off"})
        self._enhance()

    def _enhance(self) -> None:
        """HTMX attributes: each field is checked on the server as it is left; the versions follow the image."""
        validate = reverse("reimage_validate", args=[self.device.pk])
        for name, params in INLINE_FIELDS.items():
            self.fields[name].widget.attrs.update(
                {
                    "hx-post": f"{validate}?field={name}",
                    "hx-trigger": "change",
                    "hx-target": f"#field-{name}",
                    "hx-swap": "outerHTML",
                    "hx-params": ",".join(params),
                }
            )
        self.fields["image_id"].widget.attrs.update(
            {
                "hx-get": reverse("reimage_create", args=[self.device.pk]),
                "hx-trigger": "change",
                "hx-target": "#field-image_version_id",
                "hx-swap": "outerHTML",
            }
        )

    def _image_named(self, raw: Any) -> Image | None:
        return next((i for i in self.images if str(i.api_id) == str(raw or "").strip()), None)

    def _version_choices(self) -> list[Any]:
        """The chosen image's versions; with no image chosen (or no JavaScript), every image's, grouped."""
        if self.image is not None:
            versions = list(self.image.versions.all())
            default = next((v for v in versions if v.is_default), None)
            blank = f"The image's default ({default.label})" if default else "The API's default"
            return [("", blank)] + [(str(v.api_id), str(v)) for v in versions]
        grouped: dict[int, list[tuple[str, str]]] = {}
        for v in ImageVersion.objects.filter(image__in=self.images):
            grouped.setdefault(v.image_id, []).append((str(v.api_id), str(v)))
        return [("", "The image's default")] + [
            (f"{i.summary} (#{i.api_id})", grouped[i.pk]) for i in self.images if i.pk in grouped
        ]

    @cached_property
    def current_ips(self) -> list[IpAssignment]:
        """The device's addresses now."""
        return list(self.device.ip_assignments.all())

    @cached_property
    def ip_offers(self) -> dict[str, list[VlanOffer]]:
        """Free addresses to pick from, per field (bounded)."""
        return {name: free_addresses(device=self.device, kind=IP_KINDS[name]) for name in IP_FIELDS}

    def fields_with_errors(self) -> list[BoundField]:
        """The fields a rejected form marks, in page order, for the summary at its top."""
        return [field for field in self if field.errors] if self.is_bound else []

    def ips_given(self) -> bool:
        """Whether new address details were typed (then the current assignment is discarded)."""
        return any(str(self.data.get(n) or "").strip() for n in IP_FIELDS) if self.is_bound else False

    # --- Field rules -----------------------------------------------------------------------------------------------

    def clean_hostname(self) -> str:
        name, warning = hostname_clean(self.cleaned_data["hostname"])
        if warning:
            self.warnings["hostname"] = warning
        return name

    def clean_swap_space(self) -> int | None:
        swap = self.cleaned_data["swap_space"]
        if swap is None:
            return None
        default = self.device.default_swap_gb()
        if swap < 1:
            raise ValidationError(
                f"Swap must be at least 1 GB (the API refuses 0): enter a whole number, or leave it blank for the "
                f"default {default} GB."
            )
        disk = self.device.disk_gb
        if disk and swap >= disk:
            raise ValidationError(
                f"{swap} GB of swap does not fit on this device's {disk} GB disk: enter less than {disk} GB "
                f"(the default is {default} GB)."
            )
        if not disk:
            self.warnings["swap_space"] = "The API did not report this device's disk size, so swap is not checked."
        return swap

    def _clean_password(self, name: str) -> str:
        value: str = self.cleaned_data[name]
        label = self.fields[name].label
        if len(value) > PASSWORD_MAX:
            raise ValidationError(f"The {label} is too long: use at most {PASSWORD_MAX} characters.")
        if any(not c.isprintable() for c in value):
            raise ValidationError(
                f"The {label} contains an invisible character (such as a tab or a line break): type it again."
            )
        return value

    def clean_admin_password(self) -> str:
        return self._clean_password("admin_password")

    def clean_console_password(self) -> str:
        return self._clean_password("console_password")

    def clean_ssh_password(self) -> str:
        return self._clean_password("ssh_password")

    def clean_ssh_username(self) -> str:
        name: str = self.cleaned_data["ssh_username"]
        if name and (
            len(name) > SSH_USERNAME_MAX
            or not (name[0].isascii() and (name[0].isalpha() or name[0] == "_"))
            or not all(c.isascii() and (c.isalnum() or c in "._-") for c in name)
        ):
            raise ValidationError(
                f"A username begins with a letter or _ and has only letters, digits, dots, dashes and underscores, "
                f"up to {SSH_USERNAME_MAX} characters, e.g. deploy: correct it or leave it blank."
            )
        return name

    def clean_backend_ip(self) -> str:
        return ip_clean(self.cleaned_data["backend_ip"], device=self.device, kind=Vlan.Kind.BACKEND)

    def clean_frontend_ip(self) -> str:
        return ip_clean(self.cleaned_data["frontend_ip"], device=self.device, kind=Vlan.Kind.FRONTEND)

    def clean_postinstall_script(self) -> str:
        script: str = self.cleaned_data["postinstall_script"]
        size = len(script.encode("utf-8", "surrogatepass"))
        if size > self.max_script:
            raise ValidationError(
                f"The script is {_size(size)}; the limit is {_size(self.max_script)}: shorten it (for example, have "
                "it download the rest)."
            )
        return script

    def clean_postinstall_upload(self) -> str | None:
        upload: UploadedFile | None = self.cleaned_data.get("postinstall_upload")
        if not upload:
            return None
        if (upload.size or 0) > self.max_script:
            raise ValidationError(
                f"The uploaded script is {_size(upload.size or 0)}; the limit is {_size(self.max_script)}: shorten it."
            )
        raw = upload.read(self.max_script + 1)
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise ValidationError(
                f"The uploaded file is not UTF-8 text (the byte at position {exc.start} cannot be read): save it as "
                "UTF-8 and upload it again, or paste the script."
            ) from None
        if "\x00" in text:
            raise ValidationError("The uploaded file contains NUL bytes, so it is not a script: choose the text file.")
        return text

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        upload = data.get("postinstall_upload")
        if upload is not None:
            if data.get("postinstall_script"):
                self.add_error(
                    "postinstall_upload",
                    "Give the script one way: paste it or upload a file, not both (clear the text box or the file).",
                )
            else:
                data["postinstall_script"] = upload
        version = data.get("image_version_id")
        image = self.image if "image_id" in data else None
        if version is not None and image is not None and not image.versions.filter(api_id=version).exists():
            self.add_error(
                "image_version_id",
                f"Version {version} is not a version of {image.summary}: choose one of its versions, or leave it on "
                "the default.",
            )
        if "\r\n" in (data.get("postinstall_script") or ""):
            self.warnings["postinstall_script"] = (
                "The script has Windows (CR LF) line endings, which is how browsers send pasted text. It is sent "
                "exactly like this; if the server needs LF endings, upload the file instead."
            )
        refusal = device_refusal(self.device)
        if refusal:
            raise ValidationError(refusal)
        return data

    # --- What a valid form sends -----------------------------------------------------------------------------------

    def api_params(self) -> dict[str, Any]:
        """The non-secret reimage parameters by their API names (no device_id; blanks left out)."""
        d = self.cleaned_data
        params: dict[str, Any] = {"hostname": d["hostname"], "image_id": d["image_id"]}
        for name in ("image_version_id", "postinstall_script", "swap_space", "ssh_username", *IP_FIELDS):
            if d.get(name) not in (None, ""):
                params[name] = d[name]
        params["voxel_access"] = "true" if d.get("voxel_access") else "false"
        return params

    def secrets(self) -> dict[str, str]:
        """The passwords the user set (blank ones are left to the API to generate)."""
        return {name: self.cleaned_data[name] for name in SECRET_PARAMS if self.cleaned_data.get(name)}

    def carried_data(self) -> dict[str, str]:
        """The non-secret inputs, as form data, to bind the same form again at the confirm step."""
        d = self.cleaned_data
        data = {name: "" if d.get(name) is None else str(d[name]) for name in ("hostname", "image_id", "reason")}
        for name in ("image_version_id", "swap_space", "ssh_username", "postinstall_script", *IP_FIELDS):
            data[name] = "" if d.get(name) is None else str(d[name])
        if d.get("voxel_access"):
            data["voxel_access"] = "on"
        return data

    def review(self) -> dict[str, Any]:
        """What the review shows: the exact parameters and what changes against the device's current state."""
        d, device, params = self.cleaned_data, self.device, self.api_params()
        image = self._image_named(d["image_id"])
        versions = list(image.versions.all()) if image else []
        version = next((v for v in versions if v.api_id == d["image_version_id"]), None)
        default = next((v for v in versions if v.is_default), None)
        default_swap = device.default_swap_gb()
        script = d.get("postinstall_script") or ""
        secrets = self.secrets()
        notes = {
            "image_id": image.summary if image else "",
            "image_version_id": str(version) if version else "",
            "postinstall_script": f"{_size(len(script.encode()))}, {len(script.splitlines())} lines: shown below",
            "voxel_access": "provider staff may log in" if d.get("voxel_access") else "provider staff may not log in",
        }
        not_sent = {
            "image_version_id": f"the image's default{f' ({default.label})' if default else ''}",
            "postinstall_script": "no script",
            "swap_space": f"the API's default: {default_swap} GB (1 GB per core)",
            "ssh_username": "the image's default user",
            "backend_ip": "no private address given",
            "frontend_ip": "no public address given",
        }
        rows: list[dict[str, Any]] = [
            {"name": "device_id", "value": str(device.api_id), "note": f"{device.label}, {device.account.name}"}
        ]
        for name in API_ORDER:
            if name in SECRET_PARAMS:
                rows.append(
                    {
                        "name": name,
                        "secret": "set" if name in secrets else "generated",
                        "note": "" if name in secrets else "by the API; readable later on the job page",
                    }
                )
            elif name in params:
                value = "(the script below)" if name == "postinstall_script" else str(params[name])
                rows.append({"name": name, "value": value, "note": notes.get(name, "")})
            else:
                rows.append({"name": name, "value": None, "note": not_sent.get(name, "")})
        now_ips = ", ".join(f"{a.address} ({a.kind})" for a in self.current_ips) or "none"
        new_ips = [f"{params[n]} ({IP_KINDS[n]})" for n in IP_FIELDS if n in params]
        after_ips = f"{', '.join(new_ips)}; the current assignment is discarded" if new_ips else f"kept: {now_ips}"
        image_after = f"{image.summary if image else d['image_id']}, " + (
            f"version {version.label}" if version else "the default version"
        )
        swap_after = f"{d['swap_space'] or default_swap} GB{'' if d['swap_space'] else ' (API default)'}"
        if device.disk_gb:
            swap_after += f" of the {device.disk_gb} GB disk"
        changes = [
            {"what": "Hostname", "now": device.label or "none", "after": d["hostname"]},
            {"what": "OS image", "now": device.os_name or "unknown", "after": image_after},
            {"what": "Addresses", "now": now_ips, "after": after_ips},
            {"what": "Swap", "now": "not reported by the API", "after": swap_after},
            {
                "what": "Provider staff access",
                "now": "not reported by the API",
                "after": "allowed" if d.get("voxel_access") else "not allowed",
            },
        ]
        for change in changes:
            known = change["now"] != "not reported by the API"
            change["changed"] = known and change["now"] != change["after"] and not change["after"].startswith("kept")
        return {"rows": rows, "changes": changes, "script": script, "warnings": self.warnings}


class ConfirmForm(forms.Form):
    """The typed confirmation: the device's hostname or id, as a last deliberate step."""

    confirm = forms.CharField(
        label="Type the device's hostname or id to confirm",
        error_messages={"required": "Type the device's hostname or id to confirm the reimage."},
        widget=forms.TextInput(attrs={"autocomplete": "off", "autocapitalize": "off", "spellcheck": "false"}),
    )

    def __init__(self, *args: Any, device: Device, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.device = device
        accepted = f"{device.label} or {device.api_id}" if device.label else str(device.api_id)
        self.fields["confirm"].help_text = f"Type {accepted}."

    def clean_confirm(self) -> str:
        typed: str = self.cleaned_data["confirm"].strip()
        accepted = {str(self.device.api_id)} | ({self.device.label.lower()} if self.device.label else set())
        if typed.lower() not in accepted:
            raise ValidationError(
                "That is not this device's hostname or id: type it exactly as shown, to confirm you mean this server."
            )
        return typed


# --- The review token ----------------------------------------------------------------------------------------------


class ReviewTokenError(Exception):
    """The review token cannot be used; `payload` holds the non-secret data when it merely expired."""

    def __init__(self, message: str, payload: ReviewPayload | None = None) -> None:
        super().__init__(message)
        self.payload = payload


@dataclass(frozen=True)
class ReviewPayload:
    """What the review carries to the confirm step: the form's non-secret data and the passwords set."""

    data: dict[str, str]
    secrets: dict[str, str]


def review_token_make(*, form: ReimageForm, user: Any) -> str:
    """Encrypt a valid form's data and passwords into one Fernet token, bound to the user and the device."""
    payload = {"user": user.pk, "device": form.device.pk, "data": form.carried_data(), "secrets": form.secrets()}
    return fernet().encrypt(json.dumps(payload).encode()).decode()


def review_token_read(token: str, *, user: Any, device: Device) -> ReviewPayload:
    """Decrypt a review token made for this user and device; raise ReviewTokenError when expired or not ours."""
    unreadable = (
        "This review could not be read (it was made for another user or device, or was changed): fill in the form "
        "again."
    )
    try:
        raw = token.encode("ascii")
    except UnicodeEncodeError:
        raise ReviewTokenError(unreadable) from None
    expired = False
    try:
        plain = fernet().decrypt(raw, ttl=REVIEW_MAX_AGE)
    except InvalidToken:
        try:
            plain = fernet().decrypt(raw)
        except InvalidToken:
            raise ReviewTokenError(unreadable) from None
        expired = True
    try:
        value = json.loads(plain)
        ours = value["user"] == user.pk and value["device"] == device.pk
        payload = ReviewPayload(
            data={str(k): str(v) for k, v in value["data"].items()},
            secrets={str(k): str(v) for k, v in value["secrets"].items() if k in SECRET_PARAMS},
        )
    except (ValueError, KeyError, TypeError, AttributeError):
        raise ReviewTokenError(unreadable) from None
    if not ours:
        raise ReviewTokenError(unreadable)
    if expired:
        raise ReviewTokenError(
            f"This review is older than {REVIEW_MAX_AGE // 60} minutes, so it expired: check the form and submit it "
            "again.",
            payload=payload,
        )
    return payload
