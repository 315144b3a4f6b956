from django.apps import AppConfig
from django.conf import settings


def _authorize_url(adapter: object) -> str:
    return settings.STRAVA_AUTHORIZE_URL


def _access_token_url(adapter: object) -> str:
    return settings.STRAVA_TOKEN_URL


def _profile_url(adapter: object) -> str:
    return f"{settings.STRAVA_API_BASE_URL.rstrip('/')}/api/v3/athlete"


class StravaConfig(AppConfig):
    """Strava connects through allauth's bundled provider (`allauth.socialaccount.providers.strava`).

    Its adapter has the strava.com URLs written in; here they become properties read from settings
    on every request, so the sandbox or any server with Strava's paths can stand in for it.
    """

    name = "integrations.providers.strava"
    label = "source_strava"
    verbose_name = "Strava"

    def ready(self) -> None:
        from allauth.socialaccount.providers.strava.views import StravaOAuth2Adapter

        StravaOAuth2Adapter.authorize_url = property(_authorize_url)
        StravaOAuth2Adapter.access_token_url = property(_access_token_url)
        StravaOAuth2Adapter.profile_url = property(_profile_url)
