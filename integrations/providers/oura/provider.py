from allauth.socialaccount.providers.base import ProviderAccount
from allauth.socialaccount.providers.oauth2.provider import OAuth2Provider

from integrations.providers.oura.source import Source
from integrations.providers.oura.views import OuraOAuth2Adapter


class OuraProvider(OAuth2Provider):
    """Oura API v2: authorization code with the secret in the form body; Oura documents no PKCE."""

    id = "oura"
    name = "Oura"
    account_class = ProviderAccount
    oauth2_adapter_class = OuraOAuth2Adapter

    def get_default_scope(self) -> list[str]:
        return list(Source.scopes)

    def extract_uid(self, data: dict) -> str:
        return str(data["id"])

    def extract_common_fields(self, data: dict) -> dict:
        return {}


provider_classes = [OuraProvider]
