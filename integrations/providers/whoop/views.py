"""allauth adapter for WHOOP: hosts from settings at request time, WHOOP's real paths."""

from allauth.socialaccount.adapter import get_adapter
from allauth.socialaccount.models import SocialApp, SocialLogin, SocialToken
from allauth.socialaccount.providers.oauth2.views import OAuth2Adapter, OAuth2CallbackView, OAuth2LoginView
from django.http import HttpRequest

from integrations.providers.whoop.source import Source


class WhoopOAuth2Adapter(OAuth2Adapter):
    """WHOOP requires `state` of at least 8 characters (allauth sends 16)."""

    provider_id = "whoop"

    @property
    def authorize_url(self) -> str:  # https://api.prod.whoop.com/oauth/oauth2/auth
        return Source.authorize_url()

    @property
    def access_token_url(self) -> str:  # https://api.prod.whoop.com/oauth/oauth2/token
        return Source.token_url()

    @property
    def profile_url(self) -> str:
        # https://developer.whoop.com/api/#tag/User/operation/getProfileBasic
        return f"{Source.api_base_url().rstrip('/')}/developer/v2/user/profile/basic"

    def complete_login(
        self, request: HttpRequest, app: SocialApp, token: SocialToken, **kwargs
    ) -> SocialLogin:
        with get_adapter().get_requests_session() as session:
            response = session.get(self.profile_url, headers={"Authorization": f"Bearer {token.token}"})
            response.raise_for_status()
            profile = response.json()
        # Only the id is kept: the name and e-mail are not needed to sync.
        return self.get_provider().sociallogin_from_response(request, {"user_id": profile["user_id"]})


oauth2_login = OAuth2LoginView.adapter_view(WhoopOAuth2Adapter)
oauth2_callback = OAuth2CallbackView.adapter_view(WhoopOAuth2Adapter)
