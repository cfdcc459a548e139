"""Passive authentication: success over several PKIs, and one test per failure code."""

from __future__ import annotations

import datetime

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import Encoding

from netid.card.icao.lds import FID_COM, FID_DG, FID_SOD
from netid.card.icao.lds.sod import encode_sod, hash_data_group
from netid.card.icao.passive_auth import CscaTrustStore, verify_passive_authentication
from netid.errors import PassiveAuthenticationError, UsageError
from netid.testing.cards import make_card, make_chip, make_person, make_pki, tamper_file

NOW = datetime.datetime(2026, 6, 1, tzinfo=datetime.UTC)
TODAY = NOW.date()


def _fails(
    files: dict[int, bytes] | object, store: CscaTrustStore, check: str, **kw: object
) -> PassiveAuthenticationError:
    with pytest.raises(PassiveAuthenticationError) as exc:
        verify_passive_authentication(files, store, at=kw.pop("at", NOW), **kw)  # type: ignore[arg-type]
    assert exc.value.check == check, str(exc.value)
    return exc.value


@pytest.mark.parametrize(
    ("algorithm", "signature"),
    [
        ("ecdsa-p256", "ecdsa-sha256"),
        ("ecdsa-brainpool256", "ecdsa-sha256"),
        ("ecdsa-p384", "ecdsa-sha384"),
        ("ecdsa-brainpool512", "ecdsa-sha512"),
        ("rsa-2048", "rsa-pkcs1v15-sha256"),
        ("rsa-pss-2048", "rsassa-pss-sha256"),
    ],
)
def test_valid_cards_pass(algorithm: str, signature: str) -> None:
    card = make_card(1, algorithm=algorithm, today=TODAY)
    result = verify_passive_authentication(card.image.files, card.trust_store, at=NOW)
    assert result.data_groups == (1, 2, 11, 14, 15)
    assert result.signature_algorithm == signature
    assert "TEST ONLY" in result.ds_subject and "TEST ONLY" in result.csca_subject
    assert result.csca_certificate == card.pki.csca_certificate.public_bytes(Encoding.DER)
    assert result.ds_certificate == card.pki.ds_certificate.public_bytes(Encoding.DER)


def test_only_read_data_groups_are_reported() -> None:
    card = make_card(2, today=TODAY)
    files = {fid: data for fid, data in card.image.files.items() if fid not in (FID_DG[2], FID_DG[15])}
    result = verify_passive_authentication(files, card.trust_store, at=NOW)
    assert result.data_groups == (1, 11, 14)
    # EF.COM is not covered by the SOD: changing it changes nothing
    files[FID_COM] = b"\x60\x00"
    assert verify_passive_authentication(files, card.trust_store, at=NOW).data_groups == (1, 11, 14)


@pytest.mark.parametrize("dg", [1, 2, 11, 14, 15])
def test_tampered_data_group_is_named(dg: int) -> None:
    card = make_card(3, today=TODAY)
    err = _fails(tamper_file(card.image, FID_DG[dg]).files, card.trust_store, "dg_hash")
    assert err.data_group == f"DG{dg}"


def test_data_group_missing_from_sod() -> None:
    person = make_person(4, today=TODAY)
    pki = make_pki(0)
    image = make_chip(person, pki, sod_data_groups=(1, 2, 11, 15))
    err = _fails(image.files, pki.trust_store(), "dg_missing")
    assert err.data_group == "DG14"


def test_required_dg1_must_be_read() -> None:
    card = make_card(4, today=TODAY)
    files = {fid: d for fid, d in card.image.files.items() if fid != FID_DG[1]}
    assert _fails(files, card.trust_store, "dg_missing").data_group == "DG1"
    assert verify_passive_authentication(files, card.trust_store, at=NOW, required_data_groups=()).data_groups


def test_csca_not_in_trust_store() -> None:
    card = make_card(5, today=TODAY)
    _fails(card.image.files, make_pki(1).trust_store(), "ds_chain")
    _fails(card.image.files, CscaTrustStore(), "ds_chain")
    # same CSCA name, different key: the key identifiers tell them apart
    _fails(card.image.files, make_pki(0, "ecdsa-brainpool256").trust_store(), "ds_chain")


def test_expired_document_signer() -> None:
    pki = make_pki(6, ds_not_valid_after=datetime.datetime(2025, 1, 1, tzinfo=datetime.UTC))
    image = make_chip(make_person(6, today=TODAY), pki)
    assert "Document Signer" in str(_fails(image.files, pki.trust_store(), "ds_validity"))
    card = make_card(6, today=TODAY)
    _fails(
        card.image.files,
        card.trust_store,
        "ds_validity",
        at=datetime.datetime(2050, 1, 1, tzinfo=datetime.UTC),
    )
    _fails(
        card.image.files,
        card.trust_store,
        "ds_validity",
        at=datetime.datetime(2019, 1, 1, tzinfo=datetime.UTC),
    )


def test_wrong_signature() -> None:
    card = make_card(7, today=TODAY)
    # the last byte of EF.SOD is the last byte of the signature
    _fails(tamper_file(card.image, FID_SOD).files, card.trust_store, "sod_signature")
    # signed by another key than the certificate's
    other = make_pki(2)
    dgs = {n: hash_data_group(card.image.files[FID_DG[n]], "sha256") for n in (1, 2, 11, 14, 15)}
    forged = encode_sod(dgs, signer_certificate=card.pki.ds_certificate, signer_key=other.ds_key)
    _fails({**card.image.files, FID_SOD: forged}, card.trust_store, "sod_signature")


def test_rsa_wrong_signature() -> None:
    card = make_card(7, algorithm="rsa-pss-2048", today=TODAY)
    _fails(tamper_file(card.image, FID_SOD).files, card.trust_store, "sod_signature")


@pytest.mark.parametrize(
    ("algorithm", "hash_algorithm"),
    [("ecdsa-p256", "sha1"), ("ecdsa-p256", "sha224"), ("ecdsa-secp256k1", None), ("rsa-1024", None)],
)
def test_disallowed_algorithms(algorithm: str, hash_algorithm: str | None) -> None:
    pki = make_pki(8, algorithm)
    image = make_chip(make_person(8, today=TODAY), pki, hash_algorithm=hash_algorithm)
    _fails(image.files, pki.trust_store(), "algorithm")


def test_sod_format() -> None:
    card = make_card(9, today=TODAY)
    files = dict(card.image.files)
    _fails({k: v for k, v in files.items() if k != FID_SOD}, card.trust_store, "sod_format")
    _fails({**files, FID_SOD: b"\x77\x03\x30\x01\x00"}, card.trust_store, "sod_format")
    dgs = {n: hash_data_group(files[FID_DG[n]], "sha256") for n in (1, 2, 11, 14, 15)}
    no_cert = encode_sod(
        dgs, signer_certificate=card.pki.ds_certificate, signer_key=card.pki.ds_key, include_certificate=False
    )
    _fails({**files, FID_SOD: no_cert}, card.trust_store, "sod_format")


def test_naive_time_is_a_usage_error() -> None:
    card = make_card(9, today=TODAY)
    with pytest.raises(UsageError):
        verify_passive_authentication(card.image.files, card.trust_store, at=datetime.datetime(2026, 1, 1))


def test_trust_store() -> None:
    pki = make_pki(0)
    store = CscaTrustStore()
    store.add(pki.csca_certificate.public_bytes(Encoding.DER))
    store.add(pki.csca_certificate)  # duplicate ignored
    assert len(store) == 1 and list(store) == [pki.csca_certificate]
    assert store.find_issuers(pki.ds_certificate) == [pki.csca_certificate]
    assert store.find_issuers(pki.csca_certificate) == [pki.csca_certificate]  # self-issued
    with pytest.raises(UsageError):
        store.add(pki.ds_certificate)  # not a CA
    with pytest.raises(UsageError):
        store.add(b"not a certificate")


def _impostor_csca(pki_subject: x509.Name) -> x509.Certificate:
    """A CA certificate with the test CSCA's name but another key and no key identifier (TEST ONLY)."""
    key = ec.derive_private_key(987654321, ec.SECP256R1())
    return (
        x509.CertificateBuilder()
        .subject_name(pki_subject)
        .issuer_name(pki_subject)
        .public_key(key.public_key())
        .serial_number(99)
        .not_valid_before(datetime.datetime(2020, 1, 1, tzinfo=datetime.UTC))
        .not_valid_after(datetime.datetime(2040, 1, 1, tzinfo=datetime.UTC))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .sign(key, hashes.SHA256())
    )


def test_same_name_csca_candidates_are_tried_by_signature() -> None:
    card = make_card(10, today=TODAY)
    impostor = _impostor_csca(card.pki.csca_certificate.subject)
    # only the impostor: the name matches, nothing rules it out but the signature
    _fails(card.image.files, CscaTrustStore([impostor]), "ds_chain")
    # impostor first, the real CSCA second: the real one is found
    result = verify_passive_authentication(
        card.image.files, CscaTrustStore([impostor, card.pki.csca_certificate]), at=NOW
    )
    assert result.csca_certificate == card.pki.csca_certificate.public_bytes(Encoding.DER)


@pytest.mark.parametrize("as_ca", [False, True])
def test_signer_must_be_a_document_signer(as_ca: bool) -> None:
    """A certificate the CSCA issued for something else cannot sign documents."""
    card = make_card(11, today=TODAY)
    pki = card.pki
    key = ec.derive_private_key(1357911, ec.SECP256R1())
    builder = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(x509.NameOID.COMMON_NAME, "NetID TEST ONLY not a DS")]))
        .issuer_name(pki.csca_certificate.subject)
        .public_key(key.public_key())
        .serial_number(7)
        .not_valid_before(datetime.datetime(2024, 1, 1, tzinfo=datetime.UTC))
        .not_valid_after(datetime.datetime(2035, 1, 1, tzinfo=datetime.UTC))
    )
    if as_ca:
        builder = builder.add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
    else:
        usage = dict.fromkeys(
            ("digital_signature", "content_commitment", "key_encipherment", "data_encipherment",
             "key_agreement", "key_cert_sign", "crl_sign", "encipher_only", "decipher_only"),
            False,
        )  # fmt: skip
        builder = builder.add_extension(x509.KeyUsage(**{**usage, "key_cert_sign": True}), critical=True)
    assert isinstance(pki.csca_key, ec.EllipticCurvePrivateKey)
    cert = builder.sign(pki.csca_key, hashes.SHA256())
    dgs = {n: hash_data_group(card.image.files[FID_DG[n]], "sha256") for n in (1, 2, 11, 14, 15)}
    sod = encode_sod(dgs, signer_certificate=cert, signer_key=key)
    _fails({**card.image.files, FID_SOD: sod}, card.trust_store, "ds_chain")
