"""allauth adapter for Withings, whose token endpoint is not RFC 6749.

The code exchange is `POST /v2/oauth2` with `action=requesttoken` and the client secret in the
form body; the answer is wrapped as `{"status": 0, "body": {...}}` and errors come back as HTTP 200
with a non-zero `status`. The authorization code is valid for 30 seconds, so it is exchanged at
once. Withings identifies the user by the `userid` of the token response; there is no profile call.
"""

from allauth.socialaccount.adapter import get_adapter
from allauth.socialaccount.models import SocialApp, SocialLogin, SocialToken
from allauth.socialaccount.providers.oauth2.client import OAuth2Client, OAuth2Error
from allauth.socialaccount.providers.oauth2.views import OAuth2Adapter, OAuth2CallbackView, OAuth2LoginView
from django.http import HttpRequest

from integrations.providers.withings.source import Source


class WithingsOAuth2Client(OAuth2Client):
    def get_access_token(
        self, code: str, pkce_code_verifier: str | None = None, extra_data: dict | None = None
    ) -> dict:
        # https://developer.withings.com/api-reference/#tag/oauth2/operation/oauth2-getaccesstoken
        data = {
            "action": "requesttoken",
            "grant_type": "authorization_code",
            "client_id": self.consumer_key,
            "client_secret": self.consumer_secret,
            "code": code,
            "redirect_uri": self.callback_url,
        }
        with get_adapter().get_requests_session() as session:
            response = session.post(self.access_token_url, data=data)
        try:
            envelope = response.json()
        except ValueError:
            raise OAuth2Error(f"Withings answered HTTP {response.status_code} without JSON") from None
        if not isinstance(envelope, dict):
            raise OAuth2Error("Withings answered with an unexpected shape")
        body = envelope.get("body")
        if envelope.get("status") != 0 or not isinstance(body, dict) or "access_token" not in body:
            raise OAuth2Error(f"Withings refused the code exchange (status {envelope.get('status')})")
        return body


class WithingsOAuth2Adapter(OAuth2Adapter):
    provider_id = "withings"
    client_class = WithingsOAuth2Client
    scope_delimiter = ","

    @property
    def authorize_url(self) -> str:  # https://account.withings.com/oauth2_user/authorize2
        return Source.authorize_url()

    @property
    def access_token_url(self) -> str:  # https://wbsapi.withings.net/v2/oauth2
        return Source.token_url()

    def complete_login(
        self, request: HttpRequest, app: SocialApp, token: SocialToken, **kwargs
    ) -> SocialLogin:
        response = kwargs.get("response") or {}
        account = {"userid": str(response.get("userid", "")), "scope": response.get("scope", "")}
        return self.get_provider().sociallogin_from_response(request, account)


oauth2_login = OAuth2LoginView.adapter_view(WithingsOAuth2Adapter)
oauth2_callback = OAuth2CallbackView.adapter_view(WithingsOAuth2Adapter)
