"""Provider tokens encrypted at rest with Fernet; several keys allow rotation without downtime.

`TOKEN_ENCRYPTION_KEYS` lists Fernet keys, newest first: the first encrypts, every one decrypts.
To rotate, prepend a new key, deploy, run `manage.py rotate_token_keys`, then drop the old key.
With no key configured (the embedded mode) a key is derived from SECRET_KEY, with a warning;
that derived key keeps decrypting after keys are configured, until `rotate_token_keys` has run.
"""

import base64
import hashlib
import logging
from functools import lru_cache

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

logger = logging.getLogger(__name__)

__all__ = ["InvalidToken", "decrypt", "encrypt", "reencrypt"]


def derived_key(secret_key: str) -> bytes:
    """A Fernet key derived from SECRET_KEY, for installs that set no TOKEN_ENCRYPTION_KEYS."""
    digest = hashlib.sha256(b"integrations.token-encryption:" + secret_key.encode()).digest()
    return base64.urlsafe_b64encode(digest)


@lru_cache(maxsize=4)
def _fernet(keys: tuple[str, ...], secret_key: str) -> MultiFernet:
    if not keys:
        logger.warning("TOKEN_ENCRYPTION_KEYS is not set: provider tokens use a key derived from SECRET_KEY")
        return MultiFernet([Fernet(derived_key(secret_key))])
    try:
        configured = [Fernet(key.encode()) for key in keys]
    except ValueError as error:
        raise ImproperlyConfigured(
            "TOKEN_ENCRYPTION_KEYS must hold Fernet keys (Fernet.generate_key()), comma-separated."
        ) from error
    # The derived key still decrypts, so tokens saved before keys were configured stay readable
    # until `rotate_token_keys` moves them to the configured key.
    return MultiFernet([*configured, Fernet(derived_key(secret_key))])


def _current() -> MultiFernet:
    return _fernet(tuple(settings.TOKEN_ENCRYPTION_KEYS), settings.SECRET_KEY)


def encrypt(plaintext: str) -> str:
    """Encrypt with the newest key; "" stays "" (no token)."""
    return _current().encrypt(plaintext.encode()).decode() if plaintext else ""


def decrypt(ciphertext: str) -> str:
    """Decrypt with any configured key; raises InvalidToken when none fits."""
    return _current().decrypt(ciphertext.encode()).decode() if ciphertext else ""


def reencrypt(ciphertext: str) -> str:
    """The same plaintext encrypted with the newest key (for key rotation)."""
    return _current().rotate(ciphertext.encode()).decode() if ciphertext else ""
