"""allauth adapters: accounts agree with the API on who the client is, and data sources only connect."""

from allauth.account.adapter import DefaultAccountAdapter
from allauth.core.exceptions import ImmediateHttpResponse
from allauth.socialaccount.adapter import DefaultSocialAccountAdapter
from allauth.socialaccount.models import SocialLogin
from allauth.socialaccount.providers.base import AuthProcess, Provider
from django.conf import settings
from django.contrib import messages
from django.http import HttpRequest
from django.shortcuts import redirect
from django.utils.module_loading import import_string


class AccountAdapter(DefaultAccountAdapter):
    def get_client_ip(self, request: HttpRequest) -> str:
        """The address sign-in and sign-up limits count against, read as the API's limits read it."""
        return import_string(settings.RATELIMIT_IP_META_KEY)(request)


class SocialAccountAdapter(DefaultSocialAccountAdapter):
    """Providers are data sources connected to a signed-in account; none of them signs anyone in or up."""

    def list_providers(self, request: HttpRequest) -> list[Provider]:
        """Nothing to offer on the sign-in and sign-up pages; sources are connected from their own page."""
        return []

    def is_open_for_signup(self, request: HttpRequest, sociallogin: SocialLogin) -> bool:
        return False

    def pre_social_login(self, request: HttpRequest, sociallogin: SocialLogin) -> None:
        if sociallogin.state.get("process") == AuthProcess.CONNECT:
            return
        messages.error(request, "Sign in with your email address, then connect your sources.")
        raise ImmediateHttpResponse(redirect(settings.LOGIN_URL))
