"""The consent page every simulated provider shows: approve, deny, untick scopes, pick an account.

Tests skip the page with `state.set_consent(provider, auto="approve")` (or the control API), or by
adding `sandbox_auto=approve|deny` and `sandbox_account=<name>` to the authorize URL.
"""

from __future__ import annotations

from urllib.parse import urlencode, urlsplit, urlunsplit

from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render

from integrations.sandbox import oauth, state
from integrations.sandbox.oauth import Rules

SANDBOX_PARAMS = ("decision", "granted", "sandbox_account", "sandbox_form", "sandbox_auto")


def authorize(
    request: HttpRequest, rules: Rules, *, provider_name: str, echo_scope: bool = False
) -> HttpResponse:
    params = request.GET
    client_id, redirect_uri = params.get("client_id", ""), params.get("redirect_uri", "")
    if not client_id or client_id != oauth.registered_client(rules.provider)[0]:
        return HttpResponse("Unknown client_id.", status=400, content_type="text/plain")
    if not redirect_uri.startswith(("http://", "https://")):
        return HttpResponse("A registered redirect_uri is required.", status=400, content_type="text/plain")
    csrf_state = params.get("state", "")
    if len(csrf_state) < rules.min_state_length:
        return _redirect(
            redirect_uri,
            error="invalid_state",
            state=csrf_state,
            error_description=f"state must be at least {rules.min_state_length} characters",
        )
    requested = rules.parse_scopes(params.get("scope", "")) or rules.scopes
    decision, account, granted = _decide(request, rules.provider, requested)
    if decision is None:
        return _consent_page(request, provider_name, client_id, account, requested)
    if decision != "approve":
        return _redirect(redirect_uri, error="access_denied", state=csrf_state)
    code = oauth.issue_code(
        rules,
        client_id=client_id,
        account=account or state.DEFAULT_ACCOUNT,
        scopes=granted,
        redirect_uri=redirect_uri,
        code_challenge=params.get("code_challenge", "") if rules.supports_pkce else "",
        code_challenge_method=params.get("code_challenge_method", "") if rules.supports_pkce else "",
        offline=not rules.offline_param or params.get(rules.offline_param) == "offline",
    )
    extra = {"scope": rules.join_scopes(granted)} if echo_scope else {}
    return _redirect(redirect_uri, state=csrf_state, code=code.value, **extra)


def _decide(request: HttpRequest, provider: str, requested: tuple[str, ...]) -> tuple[str | None, str, tuple]:
    """(decision or None to ask, account, granted scopes) from the form, the URL or the switches."""
    params = request.GET
    if params.get("sandbox_form"):
        granted = tuple(scope for scope in requested if scope in params.getlist("granted"))
        return params.get("decision"), params.get("sandbox_account", ""), granted
    consent = state.consent(provider)
    decision = params.get("sandbox_auto") or consent.auto or None
    account = params.get("sandbox_account") or consent.account
    granted = tuple(scope for scope in requested if scope not in consent.drop_scopes)
    return decision, account, granted


def _consent_page(
    request: HttpRequest, provider_name: str, client_id: str, account: str, scopes: tuple[str, ...]
) -> HttpResponse:
    hidden = [(name, value) for name, value in request.GET.items() if name not in SANDBOX_PARAMS]
    context = {
        "provider_name": provider_name,
        "client_id": client_id,
        "account": account,
        "scopes": scopes,
        "hidden": hidden,
    }
    return render(request, "sandbox/authorize.html", context)


def _redirect(redirect_uri: str, **params: str) -> HttpResponseRedirect:
    parts = urlsplit(redirect_uri)
    query = "&".join(part for part in (parts.query, urlencode(params)) if part)
    response = HttpResponseRedirect(urlunsplit(parts._replace(query=query)))
    response.allowed_schemes = ["http", "https"]
    return response
