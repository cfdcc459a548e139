"""EF.SOD (ICAO 9303-10 §4.6.2, 9303-12 §4.6): the document security object.

EF.SOD is tag 77 wrapping a CMS ``ContentInfo`` / ``SignedData`` (RFC 5652) whose encapsulated content
(type ``id-icao-mrtd-security-ldsSecurityObject``) is::

    LDSSecurityObject ::= SEQUENCE {
        version             INTEGER (v0 | v1),
        hashAlgorithm       AlgorithmIdentifier,
        dataGroupHashValues SEQUENCE SIZE (2..16) OF DataGroupHash,
        ldsVersionInfo      LDSVersionInfo OPTIONAL }   -- v1 only
    DataGroupHash ::= SEQUENCE { dataGroupNumber INTEGER (1..16), dataGroupHashValue OCTET STRING }

:func:`parse_sod` only *parses*; it checks nothing cryptographic. Passive authentication
(:mod:`netid.card.icao.passive_auth`) decides whether to trust what it returns. :func:`encode_sod` signs a
new SOD and exists for the test kit and for tests.
"""

from __future__ import annotations

import datetime
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, ClassVar

from asn1crypto import algos, cms, core
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.serialization import Encoding

from netid.card import tlv
from netid.card.icao.lds import TAG_SOD
from netid.errors import ParseError, UsageError

__all__ = [
    "ASN1CRYPTO_ERRORS",
    "HASHES",
    "ID_LDS_SECURITY_OBJECT",
    "SecurityObject",
    "SignerKey",
    "encode_sod",
    "hash_data_group",
    "parse_sod",
]

_WHAT = "EF.SOD"

ID_LDS_SECURITY_OBJECT = "2.23.136.1.1.1"
ID_SIGNED_DATA = "1.2.840.113549.1.7.2"

#: digest algorithm names (asn1crypto's) NetID can compute; the allow-list is passive_auth's business
HASHES: dict[str, type[hashes.HashAlgorithm]] = {
    "sha1": hashes.SHA1,
    "sha224": hashes.SHA224,
    "sha256": hashes.SHA256,
    "sha384": hashes.SHA384,
    "sha512": hashes.SHA512,
}
_MAX_DG_HASHES = 16


class _DataGroupHash(core.Sequence):  # type: ignore[misc]
    _fields: ClassVar[list[Any]] = [
        ("data_group_number", core.Integer),
        ("data_group_hash_value", core.OctetString),
    ]


class _DataGroupHashValues(core.SequenceOf):  # type: ignore[misc]
    _child_spec = _DataGroupHash


class _LdsVersionInfo(core.Sequence):  # type: ignore[misc]
    _fields: ClassVar[list[Any]] = [
        ("lds_version", core.PrintableString),
        ("unicode_version", core.PrintableString),
    ]


class _LdsSecurityObject(core.Sequence):  # type: ignore[misc]
    _fields: ClassVar[list[Any]] = [
        ("version", core.Integer),
        ("hash_algorithm", algos.DigestAlgorithm),
        ("data_group_hash_values", _DataGroupHashValues),
        ("lds_version_info", _LdsVersionInfo, {"optional": True}),
    ]


@dataclass(frozen=True)
class SecurityObject:
    """A parsed EF.SOD. Algorithm fields are dotted OIDs; ``hash_algorithm`` also has a name.

    ``signed_attrs`` is the DER of the signed attributes re-tagged as ``SET OF`` — the exact bytes the
    signature covers (RFC 5652 §5.4).
    """

    version: int
    hash_algorithm: str  #: e.g. "sha256" (asn1crypto's name), or the dotted OID if unknown
    dg_hashes: dict[int, bytes]
    lds_security_object: bytes  #: the encapsulated content (DER of LDSSecurityObject)
    content_type: str  #: eContentType, dotted
    digest_algorithm: str  #: the SignerInfo digest algorithm name, or dotted OID
    signature_algorithm: str  #: the SignerInfo signature algorithm, dotted OID
    signature_algorithm_parameters: bytes | None  #: DER of its parameters (RSASSA-PSS), if any
    signed_attrs: bytes
    signed_content_type: str  #: the content-type signed attribute, dotted
    signed_message_digest: bytes  #: the message-digest signed attribute
    signature: bytes
    signer_certificate: bytes | None  #: DER of the Document Signer certificate, if carried
    certificates: tuple[bytes, ...]  #: every certificate carried, DER
    signing_time: datetime.datetime | None = None
    lds_version: str | None = None
    unicode_version: str | None = None

    def __repr__(self) -> str:
        return (
            f"SecurityObject(hash_algorithm={self.hash_algorithm!r}, data_groups={sorted(self.dg_hashes)}, "
            f"signature_algorithm={self.signature_algorithm!r})"
        )


def _name(algorithm: core.ObjectIdentifier) -> str:
    native: str = algorithm.native
    return native


# --- parse ------------------------------------------------------------------------------------------


def parse_sod(data: bytes) -> SecurityObject:
    """Parse EF.SOD from untrusted bytes; :class:`ParseError` for anything malformed.

    Only the errors raised inside asn1crypto (and cryptography's certificate loader) become
    :class:`ParseError`, each where the third-party call is made, with the original as ``__cause__``; an
    exception from NetID's own code is a bug and escapes as it is, so the fuzz tests see it.
    """
    try:
        inner = tlv.decode_single(data, TAG_SOD).value
    except ParseError as exc:
        raise ParseError(_WHAT, exc.reason) from None
    return _parse_content_info(inner)


#: what asn1crypto raises for malformed input. It decodes lazily, so these surface wherever a field is first
#: touched (indexing, ``.native``, ``.dotted``, ``len``, iteration, ``.dump()``), even AttributeError from
#: deep inside its ``.native``; :func:`_asn1crypto` translates them only around such accesses.
ASN1CRYPTO_ERRORS: tuple[type[Exception], ...] = (
    ValueError,
    TypeError,
    KeyError,
    IndexError,
    AttributeError,
    OverflowError,
    RecursionError,
)


@contextmanager
def _asn1crypto(part: str) -> Iterator[None]:
    """Translate asn1crypto's decoding errors in the block (which must hold only asn1crypto accesses)."""
    try:
        yield
    except ParseError:  # pragma: no cover - no block raises one; never re-wrap our own
        raise
    except ASN1CRYPTO_ERRORS as exc:
        raise ParseError(_WHAT, f"malformed {part} ({type(exc).__name__})") from exc


def _parse_content_info(der: bytes) -> SecurityObject:
    with _asn1crypto("ContentInfo"):
        info = cms.ContentInfo.load(der, strict=True)
        outer_type = info["content_type"].dotted
    if outer_type != ID_SIGNED_DATA:
        raise ParseError(_WHAT, "content is not SignedData")
    with _asn1crypto("SignedData"):
        signed = info["content"]
        encap = signed["encap_content_info"]
        content_type = encap["content_type"].dotted
    if content_type != ID_LDS_SECURITY_OBJECT:
        raise ParseError(_WHAT, "encapsulated content is not an LDSSecurityObject")
    with _asn1crypto("encapsulated content"):
        content = encap["content"]
        detached = content.native is None
    if detached:
        raise ParseError(_WHAT, "no encapsulated content (detached signatures are not used in EF.SOD)")
    with _asn1crypto("encapsulated content"):
        method, lds_der = content.method, bytes(content.contents)
    if method != 0:  # DER: the eContent OCTET STRING is primitive, so its contents are the bytes
        raise ParseError(_WHAT, "constructed encapsulated content")
    lds = _parse_lds_security_object(lds_der)

    with _asn1crypto("SignerInfos"):
        signer_infos = signed["signer_infos"]
        signer_count = len(signer_infos)
    if signer_count != 1:
        raise ParseError(_WHAT, "EF.SOD must have exactly one SignerInfo")
    with _asn1crypto("SignerInfo"):
        si = signer_infos[0]
        attrs = si["signed_attrs"]
        has_attrs = bool(attrs.native)
    if not has_attrs:
        raise ParseError(_WHAT, "SignerInfo has no signed attributes")
    signed_content_type, message_digest, signing_time = _signed_attributes(attrs)
    with _asn1crypto("SignerInfo"):
        raw_attrs = attrs.dump()
        digest_algorithm = _name(si["digest_algorithm"]["algorithm"])
        sig_alg = si["signature_algorithm"]
        signature_algorithm = sig_alg["algorithm"].dotted
        params = sig_alg["parameters"]
        params_der = None if params.native is None else bytes(params.dump())
        signature = bytes(si["signature"].native)
        sid = si["sid"]
        certificate_choices = list(signed["certificates"] or [])
    # the signature covers the attributes encoded as SET OF (tag 31), not as the [0] IMPLICIT field
    signed_attrs = b"\x31" + raw_attrs[1:]

    certificates: list[bytes] = []
    signer_cert: bytes | None = None
    for choice in certificate_choices:
        with _asn1crypto("certificate"):
            if choice.name != "certificate":
                continue  # other formats (attribute certificates, ...) cannot be the Document Signer's
            cert = choice.chosen
            der_cert = bytes(cert.dump())
            serial = cert["tbs_certificate"]["serial_number"].native
        if not isinstance(serial, int) or serial <= 0:
            # RFC 5280 §4.1.2.2; cryptography only warns today and will refuse such certificates later
            raise ParseError(_WHAT, "a certificate's serial number is not positive")
        try:
            x509.load_der_x509_certificate(der_cert)  # cryptography parses what passive_auth will use
        except (ValueError, x509.InvalidVersion) as exc:
            raise ParseError(_WHAT, f"malformed certificate ({type(exc).__name__})") from exc
        certificates.append(der_cert)
        if signer_cert is None:
            with _asn1crypto("certificate"):
                is_signer = _matches(sid, cert)
            if is_signer:
                signer_cert = der_cert
    return SecurityObject(
        version=lds.version,
        hash_algorithm=lds.hash_algorithm,
        dg_hashes=lds.dg_hashes,
        lds_security_object=lds_der,
        content_type=content_type,
        digest_algorithm=digest_algorithm,
        signature_algorithm=signature_algorithm,
        signature_algorithm_parameters=params_der,
        signed_attrs=signed_attrs,
        signed_content_type=signed_content_type,
        signed_message_digest=message_digest,
        signature=signature,
        signer_certificate=signer_cert,
        certificates=tuple(certificates),
        signing_time=signing_time,
        lds_version=lds.lds_version,
        unicode_version=lds.unicode_version,
    )


@dataclass(frozen=True)
class _Lds:
    version: int
    hash_algorithm: str
    dg_hashes: dict[int, bytes]
    lds_version: str | None
    unicode_version: str | None


def _parse_lds_security_object(der: bytes) -> _Lds:
    with _asn1crypto("LDSSecurityObject"):
        lds = _LdsSecurityObject.load(der, strict=True)
        version = lds["version"].native
        hash_algorithm = _name(lds["hash_algorithm"]["algorithm"])
        values = lds["data_group_hash_values"]
        count = len(values)
    if version not in (0, 1):
        raise ParseError(_WHAT, "unknown LDSSecurityObject version")
    if count > _MAX_DG_HASHES:
        raise ParseError(_WHAT, "more than 16 data group hashes")
    with _asn1crypto("LDSSecurityObject"):
        pairs = [(item["data_group_number"].native, item["data_group_hash_value"].native) for item in values]
        version_info = lds["lds_version_info"]
        versions = (
            None
            if version_info.native is None
            else (version_info["lds_version"].native, version_info["unicode_version"].native)
        )
    dg_hashes: dict[int, bytes] = {}
    for number, value in pairs:
        if not 1 <= number <= 16 or number in dg_hashes:
            raise ParseError(_WHAT, "data group number out of range or repeated")
        dg_hashes[number] = bytes(value)
    return _Lds(
        version=int(version),
        hash_algorithm=hash_algorithm,
        dg_hashes=dg_hashes,
        lds_version=None if versions is None else str(versions[0]),
        unicode_version=None if versions is None else str(versions[1]),
    )


def _signed_attributes(attrs: cms.CMSAttributes) -> tuple[str, bytes, datetime.datetime | None]:
    """(content-type, message-digest, signing-time) from the signed attributes, each present at most once
    with exactly one value (RFC 5652 §11); other attributes are ignored."""
    with _asn1crypto("signed attributes"):
        decoded = [(attr["type"].dotted, attr["values"]) for attr in attrs]
    signed_content_type: str | None = None
    message_digest: bytes | None = None
    signing_time: datetime.datetime | None = None
    for kind, values in decoded:
        if kind not in (_ATTR_CONTENT_TYPE, _ATTR_MESSAGE_DIGEST, _ATTR_SIGNING_TIME):
            continue
        with _asn1crypto("signed attributes"):
            count = len(values)
        if count != 1:
            raise ParseError(_WHAT, "signed attribute must have exactly one value")
        if kind == _ATTR_CONTENT_TYPE:
            if signed_content_type is not None:
                raise ParseError(_WHAT, "repeated content-type attribute")
            with _asn1crypto("content-type attribute"):
                signed_content_type = values[0].dotted
        elif kind == _ATTR_MESSAGE_DIGEST:
            if message_digest is not None:
                raise ParseError(_WHAT, "repeated message-digest attribute")
            with _asn1crypto("message-digest attribute"):
                message_digest = bytes(values[0].native)
        else:
            with _asn1crypto("signing-time attribute"):
                when = values[0].native
            signing_time = when if isinstance(when, datetime.datetime) else None
    if signed_content_type is None or message_digest is None:
        raise ParseError(_WHAT, "content-type or message-digest signed attribute missing")
    return signed_content_type, message_digest, signing_time


_ATTR_CONTENT_TYPE = "1.2.840.113549.1.9.3"
_ATTR_MESSAGE_DIGEST = "1.2.840.113549.1.9.4"
_ATTR_SIGNING_TIME = "1.2.840.113549.1.9.5"


def _matches(sid: cms.SignerIdentifier, cert: asn1_x509.Certificate) -> bool:
    if sid.name == "issuer_and_serial_number":
        isn = sid.chosen
        return bool(
            isn["issuer"].dump() == cert.issuer.dump() and isn["serial_number"].native == cert.serial_number
        )
    key_id = cert.key_identifier
    return key_id is not None and bytes(sid.chosen.native) == key_id


# --- encode (test kit) -------------------------------------------------------------------------------


def hash_data_group(data: bytes, algorithm: str) -> bytes:
    """Hash a data group's bytes with ``algorithm`` (a :data:`HASHES` name)."""
    try:
        h = hashes.Hash(HASHES[algorithm]())
    except KeyError:
        raise UsageError(f"unknown hash algorithm {algorithm!r}") from None
    h.update(data)
    return h.finalize()


SignerKey = ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey


def encode_sod(
    dg_hashes: Mapping[int, bytes],
    *,
    signer_certificate: x509.Certificate,
    signer_key: SignerKey,
    hash_algorithm: str = "sha256",
    digest_algorithm: str | None = None,
    rsa_pss: bool = False,
    signing_time: datetime.datetime | None = None,
    include_certificate: bool = True,
) -> bytes:
    """Build and sign EF.SOD (version 0 LDSSecurityObject) — for the test kit and tests.

    ``hash_algorithm`` hashes the data groups; ``digest_algorithm`` (default: the same) is the
    SignerInfo's digest over the content and signed attributes. ECDSA signatures are deterministic
    (RFC 6979) so a fixed key and input give a fixed SOD; RSASSA-PSS uses a salt as long as the hash.
    """
    digest_algorithm = digest_algorithm or hash_algorithm
    for name in (hash_algorithm, digest_algorithm):
        if name not in HASHES:
            raise UsageError(f"unknown hash algorithm {name!r}")
    if not dg_hashes or any(not 1 <= n <= 16 for n in dg_hashes):
        raise UsageError("data group numbers are 1-16")
    lds = _LdsSecurityObject(
        {
            "version": 0,
            "hash_algorithm": {"algorithm": hash_algorithm},
            "data_group_hash_values": [
                {"data_group_number": n, "data_group_hash_value": bytes(dg_hashes[n])}
                for n in sorted(dg_hashes)
            ],
        }
    )
    lds_der = lds.dump()
    attrs: list[dict[str, object]] = [
        {"type": "content_type", "values": [ID_LDS_SECURITY_OBJECT]},
        {"type": "message_digest", "values": [hash_data_group(lds_der, digest_algorithm)]},
    ]
    if signing_time is not None:
        attrs.insert(1, {"type": "signing_time", "values": [cms.Time({"utc_time": signing_time})]})
    signed_attrs = cms.CMSAttributes(attrs)
    to_sign = signed_attrs.dump()
    hash_cls = HASHES[digest_algorithm]
    params = None
    if isinstance(signer_key, ec.EllipticCurvePrivateKey):
        signature = signer_key.sign(to_sign, ec.ECDSA(hash_cls(), deterministic_signing=True))
        sig_alg = f"{digest_algorithm}_ecdsa"
    elif isinstance(signer_key, rsa.RSAPrivateKey):
        if rsa_pss:
            salt = hash_cls().digest_size
            pad: padding.AsymmetricPadding = padding.PSS(mgf=padding.MGF1(hash_cls()), salt_length=salt)
            sig_alg = "rsassa_pss"
            params = algos.RSASSAPSSParams(
                {
                    "hash_algorithm": {"algorithm": digest_algorithm},
                    "mask_gen_algorithm": {
                        "algorithm": "mgf1",
                        "parameters": {"algorithm": digest_algorithm},
                    },
                    "salt_length": salt,
                    "trailer_field": "trailer_field_bc",
                }
            )
        else:
            pad = padding.PKCS1v15()
            sig_alg = f"{digest_algorithm}_rsa"
        signature = signer_key.sign(to_sign, pad, hash_cls())
    else:
        raise UsageError("signer key must be EC or RSA")
    cert = asn1_x509.Certificate.load(signer_certificate.public_bytes(Encoding.DER))
    signer_info = cms.SignerInfo(
        {
            "version": "v1",
            "sid": cms.SignerIdentifier(
                {
                    "issuer_and_serial_number": {
                        "issuer": cert.issuer,
                        "serial_number": cert.serial_number,
                    }
                }
            ),
            "digest_algorithm": {"algorithm": digest_algorithm},
            "signed_attrs": signed_attrs,
            "signature_algorithm": {"algorithm": sig_alg, "parameters": params},
            "signature": signature,
        }
    )
    signed_data = cms.SignedData(
        {
            "version": "v3",
            "digest_algorithms": [{"algorithm": digest_algorithm}],
            "encap_content_info": {
                "content_type": ID_LDS_SECURITY_OBJECT,
                "content": core.ParsableOctetString(lds_der),
            },
            "certificates": [cert] if include_certificate else None,
            "signer_infos": [signer_info],
        }
    )
    info = cms.ContentInfo({"content_type": "signed_data", "content": signed_data})
    return tlv.encode(TAG_SOD, info.dump())
