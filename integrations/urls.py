from django.urls import path

from integrations import views

app_name = "integrations"

urlpatterns = [
    path("connections/", views.connection_list, name="connections"),
    path("connections/<int:pk>/", views.connection_detail, name="connection-detail"),
    path("connections/<int:pk>/sync/", views.sync_now, name="sync-now"),
    path("connections/<int:pk>/disconnect/", views.disconnect_view, name="disconnect"),
    path("connections/connect/<slug:provider>/", views.connect_start, name="connect"),
    path("connections/connect/<slug:provider>/return/", views.connect_return, name="connect-return"),
    path("webhooks/<slug:provider>/", views.webhook, name="webhook"),
]
