"""API authentication: the app session token of allauth.headless, then the browser session."""

from allauth.headless.contrib.rest_framework.authentication import XSessionTokenAuthentication
from drf_spectacular.extensions import OpenApiAuthenticationExtension


class SessionTokenAuthentication(XSessionTokenAuthentication):
    """allauth's `X-Session-Token`, announced in `WWW-Authenticate` so that a missing one is a 401."""

    def authenticate_header(self, request) -> str:
        return 'X-Session-Token realm="api"'


class SessionTokenScheme(OpenApiAuthenticationExtension):
    """Describes the app session token in the OpenAPI schema."""

    target_class = SessionTokenAuthentication
    name = "sessionToken"

    def get_security_definition(self, auto_schema) -> dict:
        return {
            "type": "apiKey",
            "in": "header",
            "name": "X-Session-Token",
            "description": "The session token from POST /_allauth/app/v1/auth/login.",
        }
