"""The sandbox control API over HTTP: the same calls as `integrations.sandbox.control`."""

from __future__ import annotations

import json
from datetime import date
from functools import wraps

import requests
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods

from integrations.sandbox import control, state


def control_view(view):
    """JSON in and out; an unknown provider is a 404, bad input a 400."""

    @csrf_exempt
    @wraps(view)
    def wrapped(request: HttpRequest, *args, **kwargs) -> HttpResponse:
        try:
            body = json.loads(request.body or b"{}") if request.method in {"POST", "PUT"} else {}
            if not isinstance(body, dict):
                raise ValueError("The body must be a JSON object.")
            return view(request, body, *args, **kwargs)
        except control.UnknownProvider as error:
            return JsonResponse({"error": f"Unknown provider {error}."}, status=404)
        except (ValueError, TypeError, KeyError) as error:
            return JsonResponse({"error": str(error)}, status=400)

    return wrapped


@control_view
@require_http_methods(["POST"])
def reset(request: HttpRequest, body: dict) -> HttpResponse:
    control.reset()
    return JsonResponse({"reset": True})


@control_view
@require_http_methods(["POST"])
def clock(request: HttpRequest, body: dict) -> HttpResponse:
    control.advance_clock(float(body["advance_seconds"]))
    return JsonResponse({"now": state.now()})


@control_view
@require_http_methods(["GET"])
def counters(request: HttpRequest, body: dict, provider: str) -> HttpResponse:
    control.provider_module(provider)
    return JsonResponse(control.counters(provider))


@control_view
@require_http_methods(["GET", "POST", "DELETE"])
def faults(request: HttpRequest, body: dict, provider: str) -> HttpResponse:
    control.provider_module(provider)
    if request.method == "POST":
        options = {
            name: body[name] for name in ("times", "retry_after", "delay_seconds", "status") if name in body
        }
        control.add_fault(provider, body["kind"], endpoints=tuple(body.get("endpoints", ())), **options)
    elif request.method == "DELETE":
        control.clear_faults(provider)
    active = [vars(fault) | {"endpoints": list(fault.endpoints)} for fault in state.faults(provider)]
    return JsonResponse({"faults": active})


@control_view
@require_http_methods(["POST", "DELETE"])
def limits(request: HttpRequest, body: dict, provider: str) -> HttpResponse:
    if request.method == "DELETE":
        control.set_limit(provider, None)
    elif body.get("documented"):
        control.set_limit(provider, documented=True)
    else:
        control.set_limit(provider, int(body["requests"]), float(body.get("window_seconds", 60)))
    limit = state.store.limits.get(provider)
    return JsonResponse({"requests": limit[0], "window_seconds": limit[1]} if limit else {})


@control_view
@require_http_methods(["POST"])
def consent(request: HttpRequest, body: dict, provider: str) -> HttpResponse:
    control.set_consent(
        provider,
        auto=body.get("auto", "approve"),
        account=body.get("account", state.DEFAULT_ACCOUNT),
        drop_scopes=tuple(body.get("drop_scopes", ())),
    )
    return JsonResponse(
        vars(state.consent(provider)) | {"drop_scopes": list(state.consent(provider).drop_scopes)}
    )


@control_view
@require_http_methods(["POST"])
def account(request: HttpRequest, body: dict, provider: str) -> HttpResponse:
    control.provider_module(provider)
    control.set_timezone(provider, body["account"], body["timezone"])
    return JsonResponse({"account": body["account"], "timezone": body["timezone"]})


@control_view
@require_http_methods(["GET"])
def expected(request: HttpRequest, body: dict, provider: str) -> HttpResponse:
    first, last = date.fromisoformat(request.GET["first"]), date.fromisoformat(request.GET["last"])
    account_name = request.GET.get("account", state.DEFAULT_ACCOUNT)
    return JsonResponse(control.expected_counts(provider, account_name, first, last))


@control_view
@require_http_methods(["POST"])
def webhook(request: HttpRequest, body: dict, provider: str) -> HttpResponse:
    fields = {name: value for name, value in body.items() if name != "callback_url"}
    try:
        response = control.send_webhook(provider, body["callback_url"], **fields)
    except requests.RequestException as error:
        return JsonResponse({"delivered": False, "error": type(error).__name__}, status=502)
    return JsonResponse({"delivered": True, "status": response.status_code, "body": response.text[:2000]})


@control_view
@require_http_methods(["POST"])
def handshake(request: HttpRequest, body: dict, provider: str) -> HttpResponse:
    options = {name: value for name, value in body.items() if name != "callback_url"}
    try:
        passed = control.handshake(provider, body["callback_url"], **options)
    except requests.RequestException as error:
        return JsonResponse({"passed": False, "error": type(error).__name__}, status=502)
    return JsonResponse({"passed": passed})
