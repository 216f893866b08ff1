"""The Django admin: accounts, users' roles, and read-only views of the inventory and history."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin
from django.http import HttpRequest

from reimaging.models import (
    Account,
    ApiCall,
    AuditEntry,
    Device,
    DeviceLock,
    Image,
    JobEvent,
    ReimageJob,
    Vlan,
)


class AccountForm(forms.ModelForm):
    """Takes the API secret as a write-only password field; it is stored encrypted."""

    api_url = forms.URLField(max_length=500, assume_scheme="https")
    api_secret = forms.CharField(
        widget=forms.PasswordInput(render_value=False),
        required=False,
        help_text="Leave blank to keep the current secret.",
    )

    class Meta:
        model = Account
        fields = ["name", "api_url", "api_key", "api_secret", "customer_id", "is_active"]

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if not self.instance.pk and not data.get("api_secret"):
            self.add_error("api_secret", "A new account needs its API secret.")
        return data

    def save(self, commit: bool = True) -> Account:
        account: Account = super().save(commit=False)
        if self.cleaned_data.get("api_secret"):
            account.api_secret = self.cleaned_data["api_secret"]
        if commit:
            account.save()
        return account


@admin.register(Account)
class AccountAdmin(admin.ModelAdmin):
    """Admins add the customer accounts voxweb acts for."""

    form = AccountForm
    list_display = ["name", "customer_id", "api_url", "is_active", "last_sync_at", "last_sync_error"]
    readonly_fields = ["last_sync_at", "last_sync_duration", "last_sync_error", "last_sync_error_at"]


class ReadOnlyAdmin(admin.ModelAdmin):
    """Inventory and history are written by voxweb itself; the admin only shows them."""

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(Device)
class DeviceAdmin(ReadOnlyAdmin):
    """Devices as last synced."""

    list_display = ["api_id", "label", "account", "facility", "kind", "os_name", "cores", "is_removed"]
    list_filter = ["account", "facility", "kind", "is_removed"]
    search_fields = ["label", "=api_id", "frontend_ips", "backend_ips", "os_name"]
    list_per_page = 50


@admin.register(Vlan)
class VlanAdmin(ReadOnlyAdmin):
    """VLANs as last synced."""

    list_display = ["api_id", "account", "kind", "facility", "description"]
    list_filter = ["account", "kind", "facility"]


@admin.register(Image)
class ImageAdmin(ReadOnlyAdmin):
    """Images as last synced."""

    list_display = ["api_id", "summary", "account"]
    list_filter = ["account"]


@admin.register(ReimageJob)
class ReimageJobAdmin(ReadOnlyAdmin):
    """Jobs (read-only: they change only through their own state machine)."""

    list_display = ["id", "device", "state", "requested_by_name", "created_at", "finished_at"]
    list_filter = ["state", "account"]
    exclude = ["secrets_encrypted"]


@admin.register(JobEvent)
class JobEventAdmin(ReadOnlyAdmin):
    """Job events (append-only)."""

    list_display = ["job", "at", "actor_name", "from_state", "to_state", "message"]


@admin.register(ApiCall)
class ApiCallAdmin(ReadOnlyAdmin):
    """API calls (append-only)."""

    list_display = ["at", "account", "method", "stat", "error_code", "duration_ms", "job"]
    list_filter = ["method", "stat"]


@admin.register(AuditEntry)
class AuditEntryAdmin(ReadOnlyAdmin):
    """The audit log (append-only)."""

    list_display = ["at", "actor_name", "action", "target", "ip_address"]
    list_filter = ["action"]


@admin.register(DeviceLock)
class DeviceLockAdmin(ReadOnlyAdmin):
    """Device locks; locking happens on the device page so it is audited."""

    list_display = ["device", "reason", "locked_by", "locked_at", "unlocked_by", "unlocked_at"]
