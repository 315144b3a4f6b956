"""allauth's connect flow ends here: its tokens become an encrypted Connection."""

from __future__ import annotations

from datetime import UTC

from integrations import registry
from integrations.connections import connect
from integrations.providers.base import TokenSet


def connection_from_social_login(request, sociallogin, **kwargs) -> None:
    """Store the tokens allauth obtained (it keeps none itself: SOCIALACCOUNT_STORE_TOKENS=False)."""
    provider = sociallogin.account.provider
    source = registry.api_sources().get(provider)
    token = sociallogin.token
    if source is None or token is None or not token.token:
        return
    expires_at = token.expires_at
    if expires_at is not None and expires_at.tzinfo is None:
        expires_at = expires_at.replace(tzinfo=UTC)
    granted = (sociallogin.account.extra_data or {}).get("granted_scopes")
    tokens = TokenSet(
        access_token=token.token,
        refresh_token=token.token_secret or None,
        expires_at=expires_at,
        scopes=tuple(granted or source.scopes),
    )
    connect(
        user=sociallogin.user, provider=provider, tokens=tokens, external_user_id=str(sociallogin.account.uid)
    )
