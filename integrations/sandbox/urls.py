"""Mounted at /sandbox/ when SANDBOX_ENABLED: each provider's real paths below /sandbox/<provider>/."""

from django.urls import include, path

from integrations.sandbox import control, views

control_patterns = [
    path("reset", views.reset, name="sandbox-reset"),
    path("clock", views.clock, name="sandbox-clock"),
    path("<str:provider>/counters", views.counters, name="sandbox-counters"),
    path("<str:provider>/faults", views.faults, name="sandbox-faults"),
    path("<str:provider>/consent", views.consent, name="sandbox-consent"),
    path("<str:provider>/limits", views.limits, name="sandbox-limits"),
    path("<str:provider>/accounts", views.account, name="sandbox-account"),
    path("<str:provider>/expected", views.expected, name="sandbox-expected"),
    path("<str:provider>/webhook", views.webhook, name="sandbox-webhook"),
    path("<str:provider>/handshake", views.handshake, name="sandbox-handshake"),
]

urlpatterns = [
    path("_control/", include(control_patterns)),
    *(
        path(f"{provider}/", include(control.provider_module(provider).urlpatterns))
        for provider in control.PROVIDERS
    ),
]
