"""Passive authentication (ICAO 9303-11 §5.1, 9303-12): are these data groups what the issuer signed?

:func:`verify_passive_authentication` runs the checks in a fixed order and raises
:class:`~netid.errors.PassiveAuthenticationError` with a stable ``check`` code at the first failure:

``sod_format``
    EF.SOD is absent, malformed, or lacks the Document Signer (DS) certificate.
``algorithm``
    a digest, signature algorithm, curve or key size is outside the allow-list below.
``sod_signature``
    the signed attributes' content-type / message-digest do not match the content, or the DS signature
    over them does not verify.
``ds_chain``
    no CSCA in the trust store issued the DS certificate (name, key identifier and signature), or the DS
    certificate is a CA or its key usage excludes digital signatures.
``ds_validity``
    the DS or CSCA certificate is not valid at ``at``.
``dg_hash``
    a data group's hash differs from the SOD's (``data_group`` names it, e.g. ``"DG11"``).
``dg_missing``
    a data group that was read is not listed in the SOD, or a required one was not read.

Allow-list (a deliberate policy, not what 9303 merely permits): digests SHA-256/384/512 everywhere —
data group hashes included. SHA-1 (and SHA-224) are refused even for data group hashes: the DG hashes are
what binds the person's data to the signature, and NetID's documents are new, so there is no legacy
population to carry. Signatures: RSA PKCS#1 v1.5 and RSASSA-PSS (MGF1 with the same hash) with keys of at
least 2048 bits; ECDSA on P-256/P-384/P-521 and brainpoolP256r1/P384r1/P512r1.
"""

from __future__ import annotations

import datetime
import hmac
from collections.abc import Collection, Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import TypeVar

from asn1crypto import algos
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.serialization import Encoding

from netid.card.icao.lds import FID_DG, FID_SOD
from netid.card.icao.lds.sod import (
    ASN1CRYPTO_ERRORS,
    HASHES,
    ID_LDS_SECURITY_OBJECT,
    SecurityObject,
    hash_data_group,
    parse_sod,
)
from netid.errors import ParseError, PassiveAuthenticationError, UsageError

ALLOWED_HASHES = frozenset({"sha256", "sha384", "sha512"})
ALLOWED_CURVES = frozenset(
    {"secp256r1", "secp384r1", "secp521r1", "brainpoolP256r1", "brainpoolP384r1", "brainpoolP512r1"}
)

__all__ = [
    "ALLOWED_CURVES",
    "ALLOWED_HASHES",
    "MIN_RSA_BITS",
    "CscaTrustStore",
    "PassiveAuthResult",
    "verify_passive_authentication",
]
MIN_RSA_BITS = 2048

_RSA_PKCS1 = {
    "1.2.840.113549.1.1.11": "sha256",
    "1.2.840.113549.1.1.12": "sha384",
    "1.2.840.113549.1.1.13": "sha512",
}
_RSA_ENCRYPTION = "1.2.840.113549.1.1.1"  # many SODs name the key type, the hash coming from the digest
_RSA_PSS = "1.2.840.113549.1.1.10"
_ECDSA = {
    "1.2.840.10045.4.3.2": "sha256",
    "1.2.840.10045.4.3.3": "sha384",
    "1.2.840.10045.4.3.4": "sha512",
}
_EC_PUBLIC_KEY = "1.2.840.10045.2.1"  # likewise seen in the wild for ECDSA with the digest's hash
_FRIENDLY = {
    **{oid: f"rsa-pkcs1v15-{h}" for oid, h in _RSA_PKCS1.items()},
    **{oid: f"ecdsa-{h}" for oid, h in _ECDSA.items()},
}
_DG_BY_FID = {fid: n for n, fid in FID_DG.items()}


# --- trust store ---------------------------------------------------------------------------------------


class CscaTrustStore:
    """Country Signing CA certificates the verifier trusts (e.g. from the ICAO PKD master list)."""

    def __init__(self, certificates: Iterable[bytes | x509.Certificate] = ()) -> None:
        self._certs: list[x509.Certificate] = []
        for cert in certificates:
            self.add(cert)

    def add(self, certificate: bytes | x509.Certificate) -> None:
        """Add a CSCA certificate (DER bytes or a parsed one). It must be a CA certificate."""
        if isinstance(certificate, bytes | bytearray):
            try:
                cert = x509.load_der_x509_certificate(bytes(certificate))
            except ValueError:
                raise UsageError("not a DER X.509 certificate") from None
        elif isinstance(certificate, x509.Certificate):
            cert = certificate
        else:
            raise UsageError("certificate must be DER bytes or cryptography.x509.Certificate")
        try:
            bc = cert.extensions.get_extension_for_class(x509.BasicConstraints).value
        except (x509.ExtensionNotFound, ValueError):
            bc = None
        if bc is None or not bc.ca:
            raise UsageError("a CSCA certificate must have basicConstraints cA=TRUE")
        if cert not in self._certs:
            self._certs.append(cert)

    def __len__(self) -> int:
        return len(self._certs)

    def __iter__(self) -> Iterator[x509.Certificate]:
        return iter(list(self._certs))

    def find_issuers(self, certificate: x509.Certificate) -> list[x509.Certificate]:
        """CSCAs whose subject is ``certificate``'s issuer and, where both carry key identifiers, whose
        subject key identifier is its authority key identifier. Several may match across key rollover."""
        aki = _authority_key_id(certificate)
        found = []
        for csca in self._certs:
            if csca.subject != certificate.issuer:
                continue
            ski = _subject_key_id(csca)
            if aki is not None and ski is not None and aki != ski:
                continue
            found.append(csca)
        return found


def _authority_key_id(cert: x509.Certificate) -> bytes | None:
    try:
        return cert.extensions.get_extension_for_class(x509.AuthorityKeyIdentifier).value.key_identifier
    except (x509.ExtensionNotFound, ValueError):
        return None


def _subject_key_id(cert: x509.Certificate) -> bytes | None:
    try:
        return cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value.digest
    except (x509.ExtensionNotFound, ValueError):
        return None


# --- result ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PassiveAuthResult:
    """What passive authentication established."""

    data_groups: tuple[int, ...]  #: data groups whose hashes verified, ascending
    ds_subject: str  #: RFC 4514 subject of the Document Signer
    csca_subject: str  #: RFC 4514 subject of the CSCA it chains to
    hash_algorithm: str  #: of the data group hashes, e.g. "sha256"
    signature_algorithm: str  #: of the SOD signature, e.g. "ecdsa-sha256", "rsassa-pss-sha256"
    ds_certificate: bytes  #: DER
    csca_certificate: bytes  #: DER
    security_object: SecurityObject


# --- verification --------------------------------------------------------------------------------------


def _fail(check: str, message: str, data_group: str | None = None) -> PassiveAuthenticationError:
    return PassiveAuthenticationError(check, message, data_group)


def verify_passive_authentication(
    files: Mapping[int, bytes],
    trust_store: CscaTrustStore,
    *,
    at: datetime.datetime | None = None,
    required_data_groups: Collection[int] = (1,),
) -> PassiveAuthResult:
    """Verify EF.SOD and every data group in ``files`` (keyed by file identifier, ``FID_*``).

    ``at`` (timezone-aware; default now) is when the certificates must be valid. Files other than data
    groups (EF.COM, EF.CardAccess) are not covered by the SOD and are ignored. ``required_data_groups``
    must be present in ``files`` (DG1, the MRZ, by default).
    """
    if at is None:
        at = datetime.datetime.now(datetime.UTC)
    elif at.tzinfo is None:
        raise UsageError("'at' must be timezone-aware")

    # 1. sod_format
    raw_sod = files.get(FID_SOD)
    if raw_sod is None:
        raise _fail("sod_format", "EF.SOD was not read")
    try:
        sod = parse_sod(raw_sod)
    except ParseError as exc:
        raise _fail("sod_format", f"EF.SOD is malformed: {exc.reason}") from exc
    if sod.signer_certificate is None:
        raise _fail("sod_format", "EF.SOD does not carry the Document Signer certificate")
    try:
        ds_cert = x509.load_der_x509_certificate(sod.signer_certificate)
        ds_key = ds_cert.public_key()
    except (ValueError, UnsupportedAlgorithm) as exc:
        raise _fail("sod_format", f"unusable Document Signer certificate ({type(exc).__name__})") from exc

    # 2. algorithm
    for what, name in (("data group hash", sod.hash_algorithm), ("signer digest", sod.digest_algorithm)):
        if name not in ALLOWED_HASHES:
            raise _fail("algorithm", f"{what} algorithm {name} is not allowed")
    sod_padding, sod_hash, sig_name = _sod_signature_scheme(sod)
    _check_key(ds_key, sod_padding, "Document Signer")
    _check_certificate_signature_algorithm(ds_cert, "Document Signer certificate")

    # 3. sod_signature
    if sod.signed_content_type != ID_LDS_SECURITY_OBJECT:
        raise _fail("sod_signature", "signed content-type is not ldsSecurityObject")
    expected = hash_data_group(sod.lds_security_object, sod.digest_algorithm)
    if not hmac.compare_digest(expected, sod.signed_message_digest):
        raise _fail("sod_signature", "signed message-digest does not match the security object")
    try:
        # _check_key above guaranteed that the key type and the padding agree
        if isinstance(ds_key, rsa.RSAPublicKey) and sod_padding is not None:
            ds_key.verify(sod.signature, sod.signed_attrs, sod_padding, sod_hash)
        elif isinstance(ds_key, ec.EllipticCurvePublicKey):
            ds_key.verify(sod.signature, sod.signed_attrs, ec.ECDSA(sod_hash))
        else:  # pragma: no cover - unreachable after _check_key
            raise InvalidSignature
    except InvalidSignature:
        raise _fail("sod_signature", "the Document Signer's signature does not verify") from None

    # 4. ds_chain
    if not _may_sign_documents(ds_cert):
        raise _fail("ds_chain", "the signer certificate's key usage does not allow digital signatures")
    csca = _find_csca(ds_cert, trust_store)

    # 5. ds_validity
    for what, cert in (("Document Signer", ds_cert), ("CSCA", csca)):
        if not cert.not_valid_before_utc <= at <= cert.not_valid_after_utc:
            raise _fail("ds_validity", f"{what} certificate is not valid at {at.isoformat()}")

    # 6. dg_hash
    read = sorted(_DG_BY_FID[fid] for fid in files if fid in _DG_BY_FID)
    verified: list[int] = []
    for number in read:
        listed = sod.dg_hashes.get(number)
        if listed is None:
            continue
        actual = hash_data_group(files[FID_DG[number]], sod.hash_algorithm)
        if not hmac.compare_digest(actual, listed):
            raise _fail("dg_hash", f"DG{number} does not match its hash in EF.SOD", f"DG{number}")
        verified.append(number)

    # 7. dg_missing
    for number in read:
        if number not in sod.dg_hashes:
            raise _fail("dg_missing", f"DG{number} was read but EF.SOD does not list it", f"DG{number}")
    for number in sorted(required_data_groups):
        if number not in verified:
            raise _fail("dg_missing", f"DG{number} is required but was not read", f"DG{number}")

    return PassiveAuthResult(
        data_groups=tuple(verified),
        ds_subject=ds_cert.subject.rfc4514_string(),
        csca_subject=csca.subject.rfc4514_string(),
        hash_algorithm=sod.hash_algorithm,
        signature_algorithm=sig_name,
        ds_certificate=sod.signer_certificate,
        csca_certificate=csca.public_bytes(Encoding.DER),
        security_object=sod,
    )


def _sod_signature_scheme(
    sod: SecurityObject,
) -> tuple[padding.AsymmetricPadding | None, hashes.HashAlgorithm, str]:
    """(RSA padding or None for ECDSA, hash, friendly name) of the SOD signature, or 'algorithm'."""
    oid = sod.signature_algorithm
    if oid in _RSA_PKCS1 or oid == _RSA_ENCRYPTION:
        name = _RSA_PKCS1.get(oid, sod.digest_algorithm)
        _same_hash(name, sod.digest_algorithm)
        return padding.PKCS1v15(), HASHES[name](), f"rsa-pkcs1v15-{name}"
    if oid in _ECDSA or oid == _EC_PUBLIC_KEY:
        name = _ECDSA.get(oid, sod.digest_algorithm)
        _same_hash(name, sod.digest_algorithm)
        return None, HASHES[name](), f"ecdsa-{name}"
    if oid == _RSA_PSS:
        name, salt = _pss_parameters(sod.signature_algorithm_parameters)
        _same_hash(name, sod.digest_algorithm)
        hash_cls = HASHES[name]
        pss = padding.PSS(mgf=padding.MGF1(hash_cls()), salt_length=salt)
        return pss, hash_cls(), f"rsassa-pss-{name}"
    raise _fail("algorithm", f"SOD signature algorithm {oid} is not allowed")


def _same_hash(signature_hash: str, digest: str) -> None:
    if signature_hash != digest:
        raise _fail("algorithm", "signature hash differs from the SignerInfo digest algorithm")


def _pss_parameters(der: bytes | None) -> tuple[str, int]:
    if der is None:
        raise _fail("algorithm", "RSASSA-PSS without parameters (SHA-1 defaults) is not allowed")
    try:  # asn1crypto decodes lazily: each access may be the one that finds the encoding malformed
        params = algos.RSASSAPSSParams.load(der, strict=True)
        hash_name = params["hash_algorithm"]["algorithm"].native
        mgf = params["mask_gen_algorithm"]
        mgf_name = mgf["algorithm"].native
        mgf_parameters = mgf["parameters"]  # typed by asn1crypto only for MGF1: its hash
        absent = mgf_name != "mgf1" or mgf_parameters.native is None
        mgf_hash = None if absent else mgf_parameters["algorithm"].native
        salt = params["salt_length"].native
        trailer = params["trailer_field"].native
    except ASN1CRYPTO_ERRORS as exc:
        raise _fail("algorithm", "malformed RSASSA-PSS parameters") from exc
    if hash_name not in ALLOWED_HASHES or mgf_name != "mgf1" or mgf_hash != hash_name:
        raise _fail("algorithm", "RSASSA-PSS hash or mask generation is not allowed")
    if not isinstance(salt, int) or not 0 <= salt <= 512 or trailer not in ("trailer_field_bc", 1):
        raise _fail("algorithm", "RSASSA-PSS salt length or trailer field is not allowed")
    return str(hash_name), salt


def _check_key(key: object, rsa_padding: padding.AsymmetricPadding | None, whose: str) -> None:
    if isinstance(key, rsa.RSAPublicKey):
        if rsa_padding is None:
            raise _fail("algorithm", f"{whose} key is RSA but the signature algorithm is ECDSA")
        if key.key_size < MIN_RSA_BITS:
            raise _fail("algorithm", f"{whose} RSA key is shorter than {MIN_RSA_BITS} bits")
    elif isinstance(key, ec.EllipticCurvePublicKey):
        if rsa_padding is not None:
            raise _fail("algorithm", f"{whose} key is EC but the signature algorithm is RSA")
        if key.curve.name not in ALLOWED_CURVES:
            raise _fail("algorithm", f"{whose} curve {key.curve.name} is not allowed")
    else:
        raise _fail("algorithm", f"{whose} key is neither RSA nor EC")


def _check_certificate_signature_algorithm(cert: x509.Certificate, what: str) -> None:
    try:
        h = cert.signature_hash_algorithm
        params = cert.signature_algorithm_parameters
    except (UnsupportedAlgorithm, ValueError):  # ValueError: e.g. an RSASSA-PSS MGF other than MGF1
        raise _fail("algorithm", f"{what} signature algorithm is not supported") from None
    if h is None or h.name not in ALLOWED_HASHES:
        raise _fail("algorithm", f"{what} is signed with a hash that is not allowed")
    if isinstance(params, padding.PSS):
        # cryptography accepts any MGF1 hash and does not expose it: the SOD's RSASSA-PSS rules apply
        _pss_parameters(_certificate_signature_parameters(cert))


def _certificate_signature_parameters(cert: x509.Certificate) -> bytes:
    """DER of the certificate's signatureAlgorithm parameters, which RSASSA-PSS always has (cryptography
    parsed the certificate and found them)."""
    try:
        algorithm = asn1_x509.Certificate.load(cert.public_bytes(Encoding.DER))["signature_algorithm"]
        return bytes(algorithm["parameters"].dump())
    except ASN1CRYPTO_ERRORS as exc:
        raise _fail("algorithm", f"malformed signature algorithm parameters ({type(exc).__name__})") from exc


def _may_sign_documents(cert: x509.Certificate) -> bool:
    # a DS certificate must allow digitalSignature and must not be a CA: otherwise another certificate
    # the CSCA issued (a CA, a master list signer) could be passed off as a Document Signer
    try:
        extensions = cert.extensions  # cryptography parses them all at once: ValueError if one is malformed
    except ValueError:
        return False
    usage = _extension_value(extensions, x509.KeyUsage)
    constraints = _extension_value(extensions, x509.BasicConstraints)
    is_ca = constraints is not None and constraints.ca
    return not is_ca and (usage is None or usage.digital_signature)


_E = TypeVar("_E", bound=x509.ExtensionType)


def _extension_value(extensions: x509.Extensions, kind: type[_E]) -> _E | None:
    try:
        return extensions.get_extension_for_class(kind).value
    except x509.ExtensionNotFound:
        return None


def _find_csca(ds_cert: x509.Certificate, trust_store: CscaTrustStore) -> x509.Certificate:
    candidates = trust_store.find_issuers(ds_cert)
    if not candidates:
        raise _fail("ds_chain", "no CSCA in the trust store issued the Document Signer certificate")
    # parseable: _check_certificate_signature_algorithm ran in step 2
    params = ds_cert.signature_algorithm_parameters
    rsa_padding = params if isinstance(params, padding.AsymmetricPadding) else None
    for csca in candidates:
        # the signature picks the issuer among same-name CSCAs (key rollover); only then does its key
        # have to meet the policy: a weak CSCA that merely shares the name must not refuse the document
        try:
            ds_cert.verify_directly_issued_by(csca)
        except (InvalidSignature, ValueError, TypeError, UnsupportedAlgorithm):
            continue
        _check_key(csca.public_key(), rsa_padding, "CSCA")
        return csca
    raise _fail("ds_chain", "the Document Signer certificate's signature does not verify with any CSCA")
