"""The shop's settings, read from ``NETID_SHOP_*`` environment variables into one frozen object.

:func:`relying_party_example.create_app` takes a :class:`ShopSettings`, so a test builds an app with
its own settings and nothing is read at import time.

============================  =============================================================================
``NETID_SHOP_RP_FILE``        the file ``python -m relying_party_example register`` wrote: the shop's keys,
                              its RP access certificate, the issuer's URL and the registered base URL
                              (default ``./shop-rp.json``)
``NETID_SHOP_BASE_URL``       the shop's public origin, if not the one it registered with
``NETID_SHOP_HOST``           where ``serve`` listens (default ``127.0.0.1``)
``NETID_SHOP_PORT``           … and on which port (default: the base URL's)
``NETID_SHOP_DATABASE_URL``   a SQLAlchemy URL for the pending transactions (default: in memory, one worker)
``NETID_SHOP_SESSION_SECRET`` the key that signs the session cookie, at least 32 characters (default: a
                              random one per process, so sessions end when the process does)
``NETID_SHOP_LOG_FILE``       where JSON log lines go besides stderr
``NETID_SHOP_COUNTER_ID``     the in-person counter's id shown in its QR (default ``front-desk-1``)
============================  =============================================================================
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

__all__ = ["ENV_PREFIX", "SettingsError", "ShopSettings"]

ENV_PREFIX: Final = "NETID_SHOP_"
_MIN_SECRET: Final = 32
#: values from documentation and examples: never accepted as a secret
_EXAMPLE_SECRETS: Final = frozenset({"changeme", "change-me", "example", "secret", "password", "netid"})


class SettingsError(ValueError):
    """A setting is missing or invalid; the message names the environment variable."""


@dataclass(frozen=True, slots=True)
class ShopSettings:
    """Everything one shop process needs (see the module docstring for the variables).

    ``session_max_age`` is how long a session cookie is accepted (seconds); ``request_ttl`` each
    presentation request's lifetime. ``ephemeral_secret`` says the session secret was generated for this
    process (none was configured).
    """

    rp_file: Path = Path("shop-rp.json")
    session_secret: bytes = field(default_factory=lambda: secrets.token_bytes(32), repr=False)
    base_url: str | None = None
    host: str = "127.0.0.1"
    port: int | None = None
    database_url: str | None = None
    log_file: Path | None = None
    counter_id: str = "front-desk-1"
    session_max_age: int = 3600
    request_ttl: int = 300
    ephemeral_secret: bool = False

    def __post_init__(self) -> None:
        if len(self.session_secret) < _MIN_SECRET:
            raise SettingsError(f"{ENV_PREFIX}SESSION_SECRET must be at least {_MIN_SECRET} characters")
        if self.session_secret.decode("utf-8", "replace").lower() in _EXAMPLE_SECRETS:
            raise SettingsError(f"{ENV_PREFIX}SESSION_SECRET is an example value: choose your own")
        if self.base_url is not None and (
            not self.base_url.startswith(("https://", "http://")) or self.base_url.endswith("/")
        ):
            raise SettingsError(f"{ENV_PREFIX}BASE_URL must be an http(s) origin without a trailing slash")
        if self.port is not None and not 0 < self.port < 65536:
            raise SettingsError(f"{ENV_PREFIX}PORT must be a TCP port")
        if self.session_max_age <= 0 or self.request_ttl <= 0:
            raise SettingsError("session_max_age and request_ttl must be positive")

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> ShopSettings:
        """Settings from ``environ`` (default: the process environment). :class:`SettingsError` for an
        invalid value."""
        env = os.environ if environ is None else environ

        def get(name: str) -> str | None:
            value = env.get(ENV_PREFIX + name)
            return value if value else None

        secret = get("SESSION_SECRET")
        port = get("PORT")
        if port is not None and not port.isdigit():
            raise SettingsError(f"{ENV_PREFIX}PORT must be a number")
        log_file = get("LOG_FILE")
        return cls(
            rp_file=Path(get("RP_FILE") or "shop-rp.json"),
            session_secret=secret.encode("utf-8") if secret else secrets.token_bytes(32),
            ephemeral_secret=secret is None,
            base_url=get("BASE_URL"),
            host=get("HOST") or "127.0.0.1",
            port=int(port) if port is not None else None,
            database_url=get("DATABASE_URL"),
            log_file=Path(log_file) if log_file else None,
            counter_id=get("COUNTER_ID") or "front-desk-1",
        )
