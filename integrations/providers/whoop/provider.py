from allauth.socialaccount.providers.base import ProviderAccount
from allauth.socialaccount.providers.oauth2.provider import OAuth2Provider

from integrations.providers.whoop.source import Source
from integrations.providers.whoop.views import WhoopOAuth2Adapter


class WhoopProvider(OAuth2Provider):
    """WHOOP API v2: the `offline` scope is what yields a refresh token; no PKCE."""

    id = "whoop"
    name = "WHOOP"
    account_class = ProviderAccount
    oauth2_adapter_class = WhoopOAuth2Adapter

    def get_default_scope(self) -> list[str]:
        return list(Source.scopes)

    def extract_uid(self, data: dict) -> str:
        return str(data["user_id"])

    def extract_common_fields(self, data: dict) -> dict:
        return {}


provider_classes = [WhoopProvider]
