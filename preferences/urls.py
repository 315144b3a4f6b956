from django.urls import path

from preferences import views

app_name = "preferences"

urlpatterns = [
    path("move/", views.move_source, name="move"),
]
