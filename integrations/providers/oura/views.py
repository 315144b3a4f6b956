"""allauth adapter for Oura: hosts from settings at request time, Oura's real paths."""

from allauth.socialaccount.adapter import get_adapter
from allauth.socialaccount.models import SocialApp, SocialLogin, SocialToken
from allauth.socialaccount.providers.oauth2.views import OAuth2Adapter, OAuth2CallbackView, OAuth2LoginView
from django.http import HttpRequest

from integrations.providers.oura.source import Source


class OuraOAuth2Adapter(OAuth2Adapter):
    provider_id = "oura"

    @property
    def authorize_url(self) -> str:  # https://cloud.ouraring.com/oauth/authorize
        return Source.authorize_url()

    @property
    def access_token_url(self) -> str:  # https://api.ouraring.com/oauth/token
        return Source.token_url()

    @property
    def profile_url(self) -> str:
        # https://cloud.ouraring.com/v2/docs#tag/Personal-Info-Routes
        return f"{Source.api_base_url().rstrip('/')}/v2/usercollection/personal_info"

    def complete_login(
        self, request: HttpRequest, app: SocialApp, token: SocialToken, **kwargs
    ) -> SocialLogin:
        with get_adapter().get_requests_session() as session:
            response = session.get(self.profile_url, headers={"Authorization": f"Bearer {token.token}"})
            response.raise_for_status()
            profile = response.json()
        # Only the id is kept: age, weight, sex and e-mail are not needed to sync.
        return self.get_provider().sociallogin_from_response(request, {"id": profile["id"]})


oauth2_login = OAuth2LoginView.adapter_view(OuraOAuth2Adapter)
oauth2_callback = OAuth2CallbackView.adapter_view(OuraOAuth2Adapter)
