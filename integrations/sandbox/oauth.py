"""The OAuth 2.0 rules every simulated provider shares: codes, tokens, rotation, PKCE, revocation.

Each provider's `sandbox.py` describes its own rules in a `Rules` (lifetimes, rotation, scope
separator, PKCE) and wraps the results in its own wire format.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from dataclasses import dataclass

from django.conf import settings
from django.http import HttpRequest

from integrations.sandbox import state
from integrations.sandbox.state import Code, Token


class OAuthError(Exception):
    """An OAuth failure in RFC 6749 terms; the provider module renders it in its own shape."""

    def __init__(self, error: str, description: str = "", status: int = 400) -> None:
        super().__init__(f"{error}: {description}")
        self.error = error
        self.description = description
        self.status = status


class AuthFailure(Exception):
    """A data call without a valid access token."""


@dataclass(frozen=True)
class Rules:
    provider: str
    code_lifetime_seconds: int
    access_lifetime_seconds: int
    rotation: str  # "always" or "never" (the rotate_refresh fault forces one rotation)
    scope_separator: str
    scopes: tuple[str, ...]
    supports_pkce: bool = False
    offline_scope: str = ""  # WHOOP: a refresh token only when this scope was granted
    old_refresh_grace_seconds: int = 0  # Withings: the previous refresh token lives on a while
    min_state_length: int = 0
    offline_param: str = ""  # Google: a refresh token only when this parameter is "offline"

    def parse_scopes(self, raw: str) -> tuple[str, ...]:
        parts = raw.replace(",", " ").split() if self.scope_separator == "," else raw.split()
        return tuple(dict.fromkeys(part for part in parts if part))

    def join_scopes(self, scopes: tuple[str, ...]) -> str:
        return self.scope_separator.join(scopes)


@dataclass(frozen=True)
class Issued:
    access: Token
    refresh: Token | None
    rotated: bool  # a new refresh token was issued


def registered_client(provider: str) -> tuple[str, str]:
    prefix = provider.upper()
    return getattr(settings, f"{prefix}_CLIENT_ID", ""), getattr(settings, f"{prefix}_CLIENT_SECRET", "")


def check_client(rules: Rules, client_id: str, client_secret: str | None) -> None:
    """Accept only the client id (and secret, when one is required) configured in settings."""
    expected_id, expected_secret = registered_client(rules.provider)
    if not expected_id or not hmac.compare_digest(client_id or "", expected_id):
        raise OAuthError("invalid_client", "Unknown client.", status=401)
    if client_secret is not None and not hmac.compare_digest(client_secret, expected_secret):
        raise OAuthError("invalid_client", "Client authentication failed.", status=401)


def client_credentials(request: HttpRequest, params: dict) -> tuple[str, str | None]:
    """The client id and secret from HTTP Basic auth, or else from the form body."""
    header = request.headers.get("Authorization", "")
    if header.lower().startswith("basic "):
        try:
            decoded = base64.b64decode(header[6:]).decode()
        except (ValueError, UnicodeDecodeError) as error:
            raise OAuthError("invalid_client", "Malformed Basic credentials.", status=401) from error
        client_id, _, secret = decoded.partition(":")
        return client_id, secret
    return params.get("client_id", ""), params.get("client_secret")


def issue_code(
    rules: Rules,
    *,
    client_id: str,
    account: str,
    scopes: tuple[str, ...],
    redirect_uri: str,
    code_challenge: str = "",
    code_challenge_method: str = "",
    offline: bool = True,
) -> Code:
    code = Code(
        value=state.new_secret(20),
        provider=rules.provider,
        client_id=client_id,
        account=account,
        scopes=scopes,
        redirect_uri=redirect_uri,
        code_challenge=code_challenge,
        code_challenge_method=code_challenge_method or ("plain" if code_challenge else ""),
        expires_at=state.now() + rules.code_lifetime_seconds,
        offline=offline,
    )
    with state.lock:
        state.store.codes[code.value] = code
    return code


def exchange_code(
    rules: Rules, *, code: str, client_id: str, redirect_uri: str | None, code_verifier: str | None
) -> Issued:
    """Trade a single-use, short-lived code for tokens."""
    with state.lock:
        found = state.store.codes.get(code)
        if found is None or found.provider != rules.provider or found.used:
            raise OAuthError("invalid_grant", "The authorization code is invalid or was already used.")
        found.used = True
        if found.expires_at < state.now():
            raise OAuthError("invalid_grant", "The authorization code has expired.")
        if found.client_id != client_id:
            raise OAuthError("invalid_grant", "The authorization code was issued to another client.")
        if redirect_uri is not None and redirect_uri != found.redirect_uri:
            raise OAuthError("invalid_grant", "redirect_uri does not match the authorization request.")
        _check_pkce(found, code_verifier)
        grant = state.new_secret(8)
        return _issue(rules, found.client_id, found.account, found.scopes, grant, with_refresh=found.offline)


def _check_pkce(code: Code, verifier: str | None) -> None:
    if not code.code_challenge:
        return
    if not verifier:
        raise OAuthError("invalid_grant", "Missing code verifier.")
    if code.code_challenge_method == "S256":
        digest = hashlib.sha256(verifier.encode()).digest()
        computed = base64.urlsafe_b64encode(digest).rstrip(b"=").decode()
    else:
        computed = verifier
    if not hmac.compare_digest(computed, code.code_challenge):
        raise OAuthError("invalid_grant", "Invalid code verifier.")


def refresh(rules: Rules, *, refresh_token: str, client_id: str) -> Issued:
    """New tokens for a refresh token, rotating it by the provider's rule."""
    with state.lock:
        old = state.store.tokens.get(refresh_token)
        if not _is_live(old, rules.provider, "refresh") or old.client_id != client_id:
            raise OAuthError("invalid_grant", "The refresh token is invalid, expired or revoked.")
        if state.take_fault(rules.provider, {"invalid_grant"}, "token"):
            _revoke_grant(old.grant)
            raise OAuthError("invalid_grant", "The refresh token has been revoked.")
        forced = state.take_fault(rules.provider, {"rotate_refresh"}, "token") is not None
        rotate = forced or rules.rotation == "always"
        issued = _issue(rules, old.client_id, old.account, old.scopes, old.grant, with_refresh=rotate)
        if not rotate:
            return Issued(access=issued.access, refresh=old, rotated=False)
        if rules.old_refresh_grace_seconds:
            old.expires_at = min(
                old.expires_at or float("inf"), state.now() + rules.old_refresh_grace_seconds
            )
            old.successor = issued.access.value
        else:
            old.revoked = True
        return issued


def _issue(
    rules: Rules, client_id: str, account: str, scopes: tuple[str, ...], grant: str, *, with_refresh: bool
) -> Issued:
    access = Token(
        value=state.new_secret(),
        kind="access",
        provider=rules.provider,
        client_id=client_id,
        account=account,
        scopes=scopes,
        grant=grant,
        expires_at=state.now() + rules.access_lifetime_seconds,
    )
    refresh_token = None
    if with_refresh and (not rules.offline_scope or rules.offline_scope in scopes):
        refresh_token = Token(
            value=state.new_secret(),
            kind="refresh",
            provider=rules.provider,
            client_id=client_id,
            account=account,
            scopes=scopes,
            grant=grant,
            expires_at=state.now() + 365 * 86400,
        )
        state.store.tokens[refresh_token.value] = refresh_token
    state.store.tokens[access.value] = access
    return Issued(access=access, refresh=refresh_token, rotated=refresh_token is not None)


def _is_live(token: Token | None, provider: str, kind: str) -> bool:
    return (
        token is not None
        and token.provider == provider
        and token.kind == kind
        and not token.revoked
        and token.grant not in state.store.revoked_grants
        and (token.expires_at is None or token.expires_at > state.now())
    )


def bearer_token(request: HttpRequest) -> str:
    header = request.headers.get("Authorization", "")
    return header[7:].strip() if header.lower().startswith("bearer ") else ""


def authenticate(provider: str, value: str) -> Token:
    """The live access token `value`; using it retires a refresh token kept alive by a grace period."""
    with state.lock:
        token = state.store.tokens.get(value)
        if not _is_live(token, provider, "access"):
            raise AuthFailure("The access token is invalid, expired or revoked.")
        for other in state.store.tokens.values():
            if other.successor == value and other.kind == "refresh":
                other.revoked = True
                other.successor = ""
        return token


def revoke(provider: str, value: str) -> bool:
    """Revoke the whole grant `value` (an access or refresh token) belongs to; False if unknown."""
    with state.lock:
        token = state.store.tokens.get(value)
        if token is None or token.provider != provider or token.grant in state.store.revoked_grants:
            return False
        _revoke_grant(token.grant)
        return True


def revoke_account(provider: str, account: str) -> None:
    with state.lock:
        for token in state.store.tokens.values():
            if token.provider == provider and token.account == account:
                state.store.revoked_grants.add(token.grant)


def _revoke_grant(grant: str) -> None:
    state.store.revoked_grants.add(grant)


def expire_access_tokens(provider: str) -> int:
    """Make every live access token of `provider` expired now; the count it touched."""
    with state.lock:
        touched = 0
        for token in state.store.tokens.values():
            if token.provider == provider and token.kind == "access" and not token.revoked:
                token.expires_at = state.now() - 1
                touched += 1
        return touched


def expires_in(token: Token) -> int:
    return max(0, round((token.expires_at or state.now()) - state.now()))
