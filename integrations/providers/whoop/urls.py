from allauth.socialaccount.providers.oauth2.urls import default_urlpatterns

from integrations.providers.whoop.provider import WhoopProvider

urlpatterns = default_urlpatterns(WhoopProvider)
