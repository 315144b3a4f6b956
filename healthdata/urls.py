from django.urls import path
from django.views.generic import RedirectView

from healthdata import views

app_name = "healthdata"

urlpatterns = [
    path("", views.home, name="home"),
    path("data/<slug:category>/", views.category, name="category"),
    path("preferences/", views.preferences, name="preferences"),
    path("sources/", RedirectView.as_view(pattern_name="integrations:connections"), name="sources"),
    path("goals/", views.goals, name="goals"),
    path("goals/<int:pk>/delete/", views.goal_delete, name="goal-delete"),
]
