"""Settings, from the environment (``NETID_ISSUER_*``) and an optional TOML file, validated strictly.

One :class:`Settings` object configures a whole issuer process; :func:`issuer_service.main.create_app`
takes it, so tests build apps with their own settings and no import-time globals. Defaults are for a
developer laptop (SQLite file, an encrypted key file next to it, loopback); production overrides them.
Secrets are :class:`pydantic.SecretStr` (never printed), and a key-store passphrase or admin token that
is still a documented example value is refused outright.

``NETID_ISSUER_CONFIG_FILE`` names the TOML file; environment variables win over it.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

__all__ = ["Settings"]

#: values that appear in our docs and examples: never accepted as real secrets
_EXAMPLE_SECRETS = frozenset({"changeme", "change-me", "example", "secret", "password", "netid"})


class Settings(BaseSettings):
    """Everything an issuer process needs; see ``docs/issuer.md`` for each setting."""

    model_config = SettingsConfigDict(env_prefix="NETID_ISSUER_", extra="forbid", frozen=True)

    # --- identity -------------------------------------------------------------------------------------
    #: the public identifier: ``iss`` of everything signed, base of every URL in the metadata
    issuer_url: str = "http://127.0.0.1:8000"
    #: where the HTTP server listens (``netid-issuer serve``); the container sets 0.0.0.0
    host: str = "127.0.0.1"
    port: int = 8000
    #: loopback http:// issuer URLs are refused unless this is set (tests, demos)
    dev_mode: bool = False

    # --- storage -------------------------------------------------------------------------------------
    database_url: str = "sqlite:///./netid-issuer.db"
    #: apply Alembic migrations when the process starts (``netid-issuer migrate`` does it explicitly)
    migrate_on_start: bool = False

    # --- keys ----------------------------------------------------------------------------------------
    keystore: Literal["file", "pkcs11"] = "file"
    #: the encrypted key file (``keystore = "file"``, and always for the enrollment and data keys)
    keystore_path: Path = Path("./netid-issuer-keys.json")
    keystore_passphrase: SecretStr | None = None
    pkcs11_module: Path | None = None
    pkcs11_token_label: str | None = None
    pkcs11_pin: SecretStr | None = None
    #: the algorithm netcerts are signed with (ES256 for verifiers that follow the HAIP profile)
    netcert_alg: Literal["EdDSA", "ES256"] = "EdDSA"

    # --- enrollment policy --------------------------------------------------------------------------
    #: a folder of CSCA certificates (PEM or DER) or an ICAO master list (CMS) — the trust anchors
    csca_path: Path | None = None
    enrollment_ttl: Annotated[int, Field(gt=0, le=3600)] = 300
    #: below this age a guardian's network number is required (the national rules' threshold)
    min_self_enroll_age: Annotated[int, Field(ge=0, le=18)] = 14
    #: a pre-authorized code must be redeemed within this many seconds
    offer_ttl: Annotated[int, Field(gt=0, le=3600)] = 600

    # --- issuance ------------------------------------------------------------------------------------
    batch_size: Annotated[int, Field(gt=0, le=100)] = 30
    netcert_validity_days: Annotated[int, Field(gt=0, le=365)] = 30
    #: each credential's iat/exp is moved by a whole number of days in [0, jitter] independently
    validity_jitter_days: Annotated[int, Field(ge=0, le=30)] = 3
    age_thresholds: tuple[int, ...] = (14, 16, 18, 60)
    #: entries per status list (credentials are spread over several lists, indices drawn at random)
    status_list_size: Annotated[int, Field(ge=1024, le=2**24)] = 2**17
    #: how many netcert status lists are open for new credentials at once
    status_lists_open: Annotated[int, Field(ge=1, le=64)] = 8
    #: seconds a served status list token may be cached (Cache-Control max-age, and the token's ttl)
    status_list_ttl: Annotated[int, Field(gt=0, le=86_400)] = 300
    access_token_ttl: Annotated[int, Field(gt=0, le=3600)] = 300
    refresh_token_ttl: Annotated[int, Field(gt=0)] = 180 * 86_400
    c_nonce_ttl: Annotated[int, Field(gt=0, le=3600)] = 300

    # --- key attestation (OpenID4VCI 1.0 Appendix D) --------------------------------------------------
    #: a JWKS file of the key attesters (wallet providers, key storage components) trusted to vouch for
    #: device keys, each key with a ``kid``. Set, every credential request must carry a key attestation
    #: signed by one of them, and the metadata says so (``key_attestations_required``)
    key_attesters_path: Path | None = None
    #: ``key_storage`` values of which an attestation must claim one (empty: no requirement)
    required_key_storage: tuple[str, ...] = ()
    #: ``user_authentication`` values of which an attestation must claim one (empty: no requirement)
    required_user_authentication: tuple[str, ...] = ()

    # --- administration ------------------------------------------------------------------------------
    #: ``{"name": "sha256 hex of the token"}``: who may call the admin API (names go into the audit log)
    admin_tokens: dict[str, str] = Field(default_factory=dict)
    #: lawful disclosures allowed per rolling day (each needs two distinct approvers)
    disclosures_per_day: Annotated[int, Field(ge=0, le=1000)] = 10

    # --- operations ----------------------------------------------------------------------------------
    max_body_bytes: Annotated[int, Field(ge=1024, le=10 * 1024 * 1024)] = 256 * 1024
    #: requests inside the application at once; keep it below the worker thread pool (40) so a finished
    #: handler's commit always finds a thread (issuer_service.core.limits)
    max_concurrent_requests: Annotated[int, Field(ge=1, le=32)] = 16
    #: requests waiting for a slot; beyond that 503 with Retry-After
    max_queued_requests: Annotated[int, Field(ge=0, le=10_000)] = 256
    #: enrollment starts per client address per minute
    enrollment_rate_per_minute: Annotated[int, Field(ge=1)] = 30
    #: seconds between deletions of expired challenges, codes, tokens and nonces in each process (0: never;
    #: ``netid-issuer purge`` does it once; issuer_service.services.housekeeping)
    purge_interval: Annotated[int, Field(ge=0)] = 3600
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    #: where JSON log lines go besides stderr (tests and the demo read them back)
    log_file: Path | None = None

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
        config_file = os.environ.get("NETID_ISSUER_CONFIG_FILE")
        if config_file:
            sources.append(TomlConfigSettingsSource(settings_cls, toml_file=config_file))
        return tuple(sources)

    @field_validator("issuer_url")
    @classmethod
    def _issuer_url(cls, value: str) -> str:
        if not value.startswith(("https://", "http://")) or value.endswith("/"):
            raise ValueError("issuer_url must be an absolute http(s) URL without a trailing slash")
        return value

    @field_validator("keystore_passphrase", "pkcs11_pin")
    @classmethod
    def _not_an_example(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and value.get_secret_value().lower() in _EXAMPLE_SECRETS:
            raise ValueError("an example value from the documentation is not a secret: choose your own")
        return value

    @field_validator("admin_tokens")
    @classmethod
    def _admin_token_hashes(cls, value: dict[str, str]) -> dict[str, str]:
        for name, digest in value.items():
            if not name or len(digest) != 64 or any(c not in "0123456789abcdef" for c in digest):
                raise ValueError("admin_tokens maps a name to the lowercase SHA-256 hex of its token")
        return value

    @field_validator("required_key_storage", "required_user_authentication")
    @classmethod
    def _attack_potential_values(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        # published as the metadata's non-empty arrays (Appendix D.2 values such as iso_18045_high)
        if len(value) > 16 or len(set(value)) != len(value) or not all(0 < len(v) <= 256 for v in value):
            raise ValueError("at most 16 distinct, non-empty values (e.g. iso_18045_high)")
        return value

    @model_validator(mode="after")
    def _consistent(self) -> Settings:
        if self.issuer_url.startswith("http://") and not self.dev_mode:
            raise ValueError("issuer_url must be https:// (set dev_mode for a loopback development issuer)")
        if self.keystore == "pkcs11" and (self.pkcs11_module is None or self.pkcs11_token_label is None):
            raise ValueError("keystore = pkcs11 needs pkcs11_module and pkcs11_token_label")
        if sorted(set(self.age_thresholds)) != sorted(self.age_thresholds) or not self.age_thresholds:
            raise ValueError("age_thresholds must be distinct")
        if (self.required_key_storage or self.required_user_authentication) and not self.key_attesters_path:
            raise ValueError("required_key_storage / required_user_authentication need key_attesters_path")
        return self

    @property
    def credential_issuer(self) -> str:
        """The OpenID4VCI credential issuer identifier (= the issuer identifier)."""
        return self.issuer_url
