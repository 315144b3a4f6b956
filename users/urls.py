from django.urls import path

from users import views

app_name = "users"

urlpatterns = [
    path("", views.account, name="account"),
    path("profile", views.update_profile, name="update-profile"),
    path("api-keys", views.create_api_key, name="create-api-key"),
    path("api-keys/<int:pk>/revoke", views.revoke_api_key, name="revoke-api-key"),
    path("exports", views.export_list, name="exports"),
    path("exports/start", views.start_export, name="start-export"),
    path("exports/<int:pk>/download", views.download_export, name="download-export"),
    path("delete", views.delete_account, name="delete-account"),
]
