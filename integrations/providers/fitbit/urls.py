from allauth.socialaccount.providers.oauth2.urls import default_urlpatterns

from integrations.providers.fitbit.provider import FitbitProvider

urlpatterns = default_urlpatterns(FitbitProvider)
