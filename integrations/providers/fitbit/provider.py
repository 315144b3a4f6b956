from allauth.socialaccount.providers.base import ProviderAccount
from allauth.socialaccount.providers.oauth2.provider import OAuth2Provider

from integrations.providers.fitbit.source import Source
from integrations.providers.fitbit.views import FitbitOAuth2Adapter


class FitbitProvider(OAuth2Provider):
    """Fitbit data through the Google Health API: read-only scopes, offline access, PKCE S256.

    `prompt=consent` is sent on every connect because Google returns a refresh token only on a
    consent screen; `access_type=offline` is what asks for one.
    """

    id = "fitbit"
    name = "Fitbit (Google Health)"
    account_class = ProviderAccount
    oauth2_adapter_class = FitbitOAuth2Adapter
    pkce_enabled_default = True

    def get_default_scope(self) -> list[str]:
        return list(Source.scopes)

    def get_auth_params(self) -> dict:
        return {"access_type": "offline", "prompt": "consent", **super().get_auth_params()}

    def extract_uid(self, data: dict) -> str:
        return str(data["healthUserId"])

    def extract_common_fields(self, data: dict) -> dict:
        return {}


provider_classes = [FitbitProvider]
