"""Forms of the actions on a job."""

from __future__ import annotations

from django import forms

from reimaging.services.jobs import SECRET_PARAMS


class JobRetryForm(forms.Form):
    """A retry's reason and, optionally, passwords entered again (blank: the API generates them)."""

    reason = forms.CharField(max_length=500, widget=forms.Textarea(attrs={"rows": 2}))
    admin_password = forms.CharField(
        required=False, max_length=128, strip=False, widget=forms.PasswordInput(render_value=False)
    )
    console_password = forms.CharField(
        required=False, max_length=128, strip=False, widget=forms.PasswordInput(render_value=False)
    )
    ssh_password = forms.CharField(
        required=False, max_length=128, strip=False, widget=forms.PasswordInput(render_value=False)
    )

    def secrets(self) -> dict[str, str]:
        """The passwords the user typed; blank ones are left for the API to generate."""
        return {name: self.cleaned_data[name] for name in SECRET_PARAMS if self.cleaned_data.get(name)}
