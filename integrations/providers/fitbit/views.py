"""allauth adapter for the Google Health API (the Fitbit source): Google OAuth 2.0 with PKCE.

The token response carries no user id: the Google Health user id comes from
`GET /v4/users/me/identity`, and it is the id webhook notifications name.
"""

from allauth.socialaccount.adapter import get_adapter
from allauth.socialaccount.models import SocialApp, SocialLogin, SocialToken
from allauth.socialaccount.providers.base import ProviderException
from allauth.socialaccount.providers.oauth2.views import OAuth2Adapter, OAuth2CallbackView, OAuth2LoginView
from django.http import HttpRequest

from integrations.providers.fitbit.source import Source

NOT_LINKED = "ACCOUNT_NOT_LINKED"


class FitbitOAuth2Adapter(OAuth2Adapter):
    provider_id = "fitbit"

    @property
    def authorize_url(self) -> str:  # https://accounts.google.com/o/oauth2/v2/auth
        return Source.authorize_url()

    @property
    def access_token_url(self) -> str:  # https://oauth2.googleapis.com/token
        return Source.token_url()

    @property
    def profile_url(self) -> str:
        # https://developers.google.com/health/reference/rest/v4/users/getIdentity
        return f"{Source.api_base_url().rstrip('/')}/v4/users/me/identity"

    def complete_login(
        self, request: HttpRequest, app: SocialApp, token: SocialToken, **kwargs
    ) -> SocialLogin:
        with get_adapter().get_requests_session() as session:
            response = session.get(self.profile_url, headers={"Authorization": f"Bearer {token.token}"})
        if response.status_code == 400 and NOT_LINKED in response.text:
            raise ProviderException(
                "This Google Account has no Google Health profile yet: open the Google Health app, "
                "sign in with this account, then connect again."
            )
        if response.status_code in (403, 412):
            raise ProviderException(
                "Google Health is not set up for this account (or a legacy Fitbit login was used): "
                "finish the set-up in the Google Health app, then connect again."
            )
        response.raise_for_status()
        identity = response.json()
        identity["scope"] = (kwargs.get("response") or {}).get("scope", "")
        return self.get_provider().sociallogin_from_response(request, identity)


oauth2_login = OAuth2LoginView.adapter_view(FitbitOAuth2Adapter)
oauth2_callback = OAuth2CallbackView.adapter_view(FitbitOAuth2Adapter)
