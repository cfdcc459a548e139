"""Register the shop with a NetID issuer and keep what it needs in one local file.

:func:`register` creates the shop's two keys — an ES256 key that signs its presentation requests and a
P-256 key wallets encrypt their answers to (``direct_post.jwt``) — and asks the issuer's admin API
(``POST /admin/rps``) for an RP access certificate that allows exactly what the shop asks
(:data:`SHOP_PREDICATES`, :data:`PURPOSES`) and one response URI per transaction: the prefix
``{base_url}/netid/response/`` (``specs/protocol.md`` §4). :class:`ShopRegistration` is the result, and
:meth:`ShopRegistration.save` writes it — keys as PKCS#8 PEM, the certificate, the issuer's URL and the
registered base URL — to a file only its owner may read::

    python -m relying_party_example register --issuer https://issuer.example \\
        --base-url https://shop.example --out shop-rp.json     # admin token: $NETID_ISSUER_ADMIN_TOKEN

The private keys in that file are not encrypted: keep it where the shop's secrets live (a secret store in
production). Registering again makes new keys and a new certificate.
"""

from __future__ import annotations

import json
import os
import tempfile
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

import httpx
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from netid.credentials.jose import public_jwk
from netid.oid4vp.certificate import rp_certificate_unverified

__all__ = [
    "FILE_VERSION",
    "PURPOSES",
    "SHOP_PREDICATES",
    "RegistrationError",
    "ShopRegistration",
    "register",
    "response_uri_prefix",
]

FILE_VERSION: Final = 1
#: what the shop may ask: over 18 (and that the document is valid), a typed name, its pairwise subject
SHOP_PREDICATES: Final = ("age_over_18", "doc_valid", "name_equals", "subject")
#: the purpose of each check, as the holder's wallet shows it at consent (and the certificate lists it)
PURPOSES: Final[Mapping[str, str]] = {"signin": "sign in", "age": "age check", "name": "real-name check"}
_TIMEOUT: Final = 30.0


class RegistrationError(Exception):
    """The issuer refused the registration or could not be reached: ``code`` is the issuer's problem code
    (``transport`` when it did not answer, ``protocol`` when the answer was not usable)."""

    def __init__(self, code: str, message: str, *, status: int | None = None) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
        self.status = status


def response_uri_prefix(base_url: str) -> str:
    """The response-URI prefix the shop registers: ``{base_url}/netid/response/`` (one URI per
    transaction, as :class:`netid.verifier.http.RelyingParty` builds them with its default prefix)."""
    return f"{base_url.rstrip('/')}/netid/response/"


def _pem(key: ec.EllipticCurvePrivateKey) -> str:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode("ascii")


def _load_ec_key(pem: object, what: str) -> ec.EllipticCurvePrivateKey:
    if not isinstance(pem, str):
        raise ValueError(f"{what} is missing")
    key = serialization.load_pem_private_key(pem.encode("ascii"), password=None)
    if not isinstance(key, ec.EllipticCurvePrivateKey) or not isinstance(key.curve, ec.SECP256R1):
        raise ValueError(f"{what} is not a P-256 key")
    return key


@dataclass(frozen=True, slots=True)
class ShopRegistration:
    """The shop's registration: who it is at the issuer, its certificate and its two private keys."""

    issuer_url: str
    base_url: str
    rp_id: str
    certificate: str = field(repr=False)
    signing_key: ec.EllipticCurvePrivateKey = field(repr=False)
    encryption_key: ec.EllipticCurvePrivateKey = field(repr=False)
    registered_at: int = 0

    def to_json(self) -> dict[str, Any]:
        return {
            "version": FILE_VERSION,
            "issuer_url": self.issuer_url,
            "base_url": self.base_url,
            "rp_id": self.rp_id,
            "registered_at": self.registered_at,
            "certificate": self.certificate,
            "signing_key": _pem(self.signing_key),
            "encryption_key": _pem(self.encryption_key),
        }

    def save(self, path: str | os.PathLike[str]) -> Path:
        """Write the file atomically, readable by its owner only (mode 0600)."""
        target = Path(path)
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                json.dump(self.to_json(), handle, indent=2)
                handle.write("\n")
                handle.flush()
                os.fsync(handle.fileno())
            os.chmod(tmp, 0o600)
            os.replace(tmp, target)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        return target

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> ShopRegistration:
        """Read a file :meth:`save` wrote. :class:`ValueError` (with the reason) if it is not one."""
        try:
            data = json.loads(Path(path).read_text(encoding="utf-8"))
        except OSError as exc:
            raise ValueError(f"cannot read {path}: {exc.strerror or exc}") from exc
        except json.JSONDecodeError as exc:
            raise ValueError(f"{path} is not JSON") from exc
        if not isinstance(data, dict) or data.get("version") != FILE_VERSION:
            raise ValueError(f"{path} is not a shop registration file (version {FILE_VERSION})")
        texts = {name: data.get(name) for name in ("issuer_url", "base_url", "rp_id", "certificate")}
        if not all(isinstance(v, str) and v for v in texts.values()):
            raise ValueError(f"{path} lacks issuer_url, base_url, rp_id or certificate")
        certificate = str(texts["certificate"])
        rp_certificate_unverified(certificate)  # at least shaped like one (the issuer's keys check it)
        return cls(
            issuer_url=str(texts["issuer_url"]),
            base_url=str(texts["base_url"]),
            rp_id=str(texts["rp_id"]),
            certificate=certificate,
            signing_key=_load_ec_key(data.get("signing_key"), "signing_key"),
            encryption_key=_load_ec_key(data.get("encryption_key"), "encryption_key"),
            registered_at=int(data.get("registered_at") or 0),
        )


def register(
    *,
    issuer_url: str,
    admin_token: str,
    base_url: str,
    rp_id: str = "shop.example",
    name: str = "示例商城 Example Shop",
    processor: str = "Example Shop Co., Ltd.",
    contact: str = "privacy@shop.example",
    retention: str = "30 days",
    http: httpx.Client | None = None,
) -> ShopRegistration:
    """Create the shop's keys and register it with the issuer at ``issuer_url`` (its admin API, with
    ``admin_token``), for responses under ``base_url``. Returns the registration (save it with
    :meth:`ShopRegistration.save`); :class:`RegistrationError` if the issuer refuses or is unreachable."""
    issuer = issuer_url.rstrip("/")
    base = base_url.rstrip("/")
    signing_key = ec.generate_private_key(ec.SECP256R1())
    encryption_key = ec.generate_private_key(ec.SECP256R1())
    body = {
        "rp_id": rp_id,
        "name": name,
        "sector": rp_id,
        "allowed_predicates": list(SHOP_PREDICATES),
        "purposes": list(dict.fromkeys(PURPOSES.values())),
        "response_uris": [response_uri_prefix(base)],
        "request_jwk": public_jwk(signing_key),
        "processor": processor,
        "contact": contact,
        "retention": retention,
    }
    client = http if http is not None else httpx.Client(timeout=_TIMEOUT)
    try:
        response = client.post(
            f"{issuer}/admin/rps", json=body, headers={"Authorization": f"Bearer {admin_token}"}
        )
    except httpx.TransportError as exc:
        raise RegistrationError(
            "transport", f"the issuer at {issuer} did not answer ({type(exc).__name__})"
        ) from exc
    finally:
        if http is None:
            client.close()
    try:
        answer = response.json()
    except ValueError:
        answer = None
    if response.status_code != 201:
        code = answer.get("code") if isinstance(answer, dict) else None
        detail = answer.get("detail") if isinstance(answer, dict) else None
        raise RegistrationError(
            str(code or "refused"),
            str(detail or f"the issuer answered HTTP {response.status_code}"),
            status=response.status_code,
        )
    certificate = answer.get("certificate") if isinstance(answer, dict) else None
    if not isinstance(certificate, str):
        raise RegistrationError("protocol", "the issuer's answer holds no certificate", status=201)
    return ShopRegistration(
        issuer_url=issuer,
        base_url=base,
        rp_id=rp_id,
        certificate=certificate,
        signing_key=signing_key,
        encryption_key=encryption_key,
        registered_at=int(time.time()),
    )
