from allauth.socialaccount.providers.base import ProviderAccount, ProviderException
from allauth.socialaccount.providers.oauth2.provider import OAuth2Provider

from integrations.providers.withings.source import Source
from integrations.providers.withings.views import WithingsOAuth2Adapter


class WithingsProvider(OAuth2Provider):
    """Withings: comma-separated scopes, no PKCE, user id from the token response."""

    id = "withings"
    name = "Withings"
    account_class = ProviderAccount
    oauth2_adapter_class = WithingsOAuth2Adapter

    def get_default_scope(self) -> list[str]:
        return list(Source.scopes)

    def extract_uid(self, data: dict) -> str:
        if not data.get("userid"):
            raise ProviderException("Withings answered without a userid")
        return str(data["userid"])

    def extract_common_fields(self, data: dict) -> dict:
        return {}


provider_classes = [WithingsProvider]
