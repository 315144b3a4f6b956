import functools
import zoneinfo

from allauth.account.adapter import get_adapter
from allauth.mfa.utils import is_mfa_enabled
from django import forms
from django.contrib.admin.forms import AdminAuthenticationForm

from config.cache import count_up
from users.models import ApiKey, ApiKeyScope, User


@functools.cache
def timezone_choices() -> list[tuple[str, str]]:
    """IANA zone names, without the duplicate `posix/` and `right/` trees some systems ship."""
    names = (name for name in zoneinfo.available_timezones() if not name.startswith(("posix/", "right/")))
    return [(name, name.replace("_", " ")) for name in sorted(names)]


class ProfileForm(forms.ModelForm):
    timezone = forms.ChoiceField(
        label="Time zone",
        choices=timezone_choices,
        help_text="Days, charts and goals follow this time zone.",
    )

    class Meta:
        model = User
        fields = ["timezone", "units"]
        widgets = {"units": forms.RadioSelect}
        help_texts = {"units": "Values are stored in metric units and shown in the units you choose."}


class ApiKeyForm(forms.ModelForm):
    class Meta:
        model = ApiKey
        fields = ["name", "scope"]
        widgets = {"scope": forms.RadioSelect}
        labels = {"name": "Key name", "scope": "Access"}
        help_texts = {
            "name": "What the key is for, such as “nightly backup script”.",
            "scope": "A read-only key cannot change anything.",
        }

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["scope"].initial = ApiKeyScope.READ


DELETE_PASSWORD_ATTEMPTS = 5  # per user in DELETE_ATTEMPT_WINDOW_SECONDS, so a left-open session
DELETE_ATTEMPT_WINDOW_SECONDS = 15 * 60  # cannot be used to guess the password


def _count_password_attempt(user: User) -> int:
    return count_up(f"account-delete-attempts:{user.pk}", DELETE_ATTEMPT_WINDOW_SECONDS)


class DeleteAccountForm(forms.Form):
    """Deleting needs the password, or the email address typed out when the account has none."""

    password = forms.CharField(label="Your password", widget=forms.PasswordInput, required=False)
    email = forms.CharField(label="Type your email address", required=False)

    def __init__(self, *args, user: User, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.user = user
        unused = "email" if user.has_usable_password() else "password"
        del self.fields[unused]
        kept = next(iter(self.fields))
        self.fields[kept].required = True
        self.fields[kept].widget.attrs["autocomplete"] = "current-password" if kept == "password" else "off"

    def clean_password(self) -> str:
        password = self.cleaned_data["password"]
        if _count_password_attempt(self.user) > DELETE_PASSWORD_ATTEMPTS:
            raise forms.ValidationError("Too many attempts. Try again in 15 minutes.")
        if not self.user.check_password(password):
            raise forms.ValidationError("That is not your password.")
        return password

    def clean_email(self) -> str:
        email = self.cleaned_data["email"].strip()
        if email.lower() != self.user.email.lower():
            raise forms.ValidationError("That is not the email address of this account.")
        return email


class AdminLoginForm(AdminAuthenticationForm):
    """The admin's sign-in, counted against the same failed-attempt limits as every other sign-in.

    allauth's adapter reserves a try per account and per client address before checking the
    password and gives it back on success, so parallel guesses cannot overrun the limit either.
    """

    def clean(self) -> dict:
        email, password = self.cleaned_data.get("username"), self.cleaned_data.get("password")
        if email is not None and password:
            self.user_cache = get_adapter(self.request).authenticate(
                self.request, email=email, password=password
            )
            if self.user_cache is None:
                raise self.get_invalid_login_error()
            self.confirm_login_allowed(self.user_cache)
        return self.cleaned_data

    def confirm_login_allowed(self, user) -> None:
        super().confirm_login_allowed(user)
        if is_mfa_enabled(user):  # this form knows no second factor: the account's sign-in does
            raise forms.ValidationError(
                "This account signs in with two-factor authentication: sign in at /accounts/login/, "
                "then open the admin.",
                code="mfa_required",
            )
