"""EF.SOD: CMS SignedData over an LDSSecurityObject — build, parse, and what parsing refuses."""

from __future__ import annotations

import datetime
import re
import traceback

import pytest
from asn1crypto import cms
from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import Encoding

from netid.card import tlv
from netid.card.icao.lds.sod import (
    ASN1CRYPTO_ERRORS,
    ID_LDS_SECURITY_OBJECT,
    encode_sod,
    hash_data_group,
    parse_sod,
)
from netid.errors import ParseError, UsageError
from netid.testing.cards import make_pki

HASHES = {1: hash_data_group(b"dg1", "sha256"), 2: hash_data_group(b"dg2", "sha256")}


def assert_translated_only_from_third_party(err: BaseException) -> None:
    """The oracle for the fuzz tests: a ParseError (or a PassiveAuthenticationError) either comes from one
    of NetID's own checks (no ``__cause__``) or translates an exception that asn1crypto raised, or
    cryptography's certificate loader; never one raised by NetID's own code, which must crash instead.

    A translation names the exception in its message and keeps it as ``__cause__``. The traceback decides
    where it came from, not the type: asn1crypto raises AttributeError and TypeError too, and so can a
    bug of ours. What ran after the innermost NetID frame must be asn1crypto's (or the standard library
    it called); with nothing after it, the exception came from a C/Rust function called on that line,
    which must be cryptography's certificate loader or its public-key decoder.
    """
    cause = err.__cause__
    translated = re.search(r"\((\w+)\)$", str(err))  # "malformed ... (ValueError)": a translation
    if cause is None:
        assert translated is None, f"{err!r} translated an exception but did not keep it as __cause__"
        return
    if isinstance(cause, ParseError):  # passive authentication reporting parse_sod's refusal
        assert_translated_only_from_third_party(cause)
        return
    assert isinstance(cause, (*ASN1CRYPTO_ERRORS, UnsupportedAlgorithm, x509.InvalidVersion)), repr(cause)
    frames = traceback.extract_tb(cause.__traceback__)
    ours = [i for i, frame in enumerate(frames) if "/netid/" in frame.filename.replace("\\", "/")]
    assert ours, f"{cause!r} did not pass through NetID"
    after = frames[ours[-1] + 1 :]
    where = f"{type(cause).__name__} from {frames[ours[-1]].filename}:{frames[ours[-1]].lineno}"
    if after:
        assert "asn1crypto" in after[0].filename, f"translated {where} -> {after[0].filename}"
    else:
        line = frames[ours[-1]].line or ""
        assert "load_der_x509_certificate(" in line or ".public_key()" in line, f"translated {where}: {line}"


def parse_sod_checked(data: bytes) -> object:
    """parse_sod, failing the test when its ParseError translated an exception from NetID's own code."""
    try:
        return parse_sod(data)
    except ParseError as err:
        assert_translated_only_from_third_party(err)
        raise


def test_round_trip_ecdsa() -> None:
    pki = make_pki(0, "ecdsa-p256")
    when = datetime.datetime(2025, 3, 1, 12, 0, tzinfo=datetime.UTC)
    data = encode_sod(HASHES, signer_certificate=pki.ds_certificate, signer_key=pki.ds_key, signing_time=when)
    assert data[0] == 0x77
    sod = parse_sod(data)
    assert sod.version == 0
    assert sod.hash_algorithm == sod.digest_algorithm == "sha256"
    assert sod.dg_hashes == HASHES
    assert sod.content_type == sod.signed_content_type == ID_LDS_SECURITY_OBJECT
    assert sod.signed_message_digest == hash_data_group(sod.lds_security_object, "sha256")
    assert sod.signature_algorithm == "1.2.840.10045.4.3.2"
    assert sod.signature_algorithm_parameters is None
    assert sod.signing_time == when
    assert sod.signer_certificate == pki.ds_certificate.public_bytes(Encoding.DER)
    assert sod.certificates == (sod.signer_certificate,)
    assert sod.signed_attrs[0] == 0x31  # re-tagged as SET OF: what the signature covers
    assert isinstance(pki.ds_key, ec.EllipticCurvePrivateKey)
    pki.ds_key.public_key().verify(sod.signature, sod.signed_attrs, ec.ECDSA(hashes.SHA256()))
    # deterministic ECDSA: the same inputs give the same SOD
    assert (
        encode_sod(HASHES, signer_certificate=pki.ds_certificate, signer_key=pki.ds_key, signing_time=when)
        == data
    )
    assert "dg1" not in repr(sod)


def test_round_trip_rsa_pss_sha384() -> None:
    pki = make_pki(0, "rsa-pss-2048")
    dg = {n: hash_data_group(bytes([n]), "sha384") for n in (1, 2, 11, 15)}
    sod = parse_sod(
        encode_sod(
            dg,
            signer_certificate=pki.ds_certificate,
            signer_key=pki.ds_key,
            hash_algorithm="sha384",
            rsa_pss=True,
        )
    )
    assert sod.dg_hashes == dg and sod.hash_algorithm == "sha384"
    assert sod.signature_algorithm == "1.2.840.113549.1.1.10"
    assert sod.signature_algorithm_parameters is not None


def test_without_certificate() -> None:
    pki = make_pki(0, "ecdsa-p256")
    sod = parse_sod(
        encode_sod(
            HASHES, signer_certificate=pki.ds_certificate, signer_key=pki.ds_key, include_certificate=False
        )
    )
    assert sod.signer_certificate is None and sod.certificates == ()


def test_encode_refuses_bad_arguments() -> None:
    pki = make_pki(0, "ecdsa-p256")
    with pytest.raises(UsageError):
        encode_sod({17: b"x"}, signer_certificate=pki.ds_certificate, signer_key=pki.ds_key)
    with pytest.raises(UsageError):
        encode_sod(HASHES, signer_certificate=pki.ds_certificate, signer_key=pki.ds_key, hash_algorithm="md5")
    with pytest.raises(UsageError):
        hash_data_group(b"", "md5")


def _content_info(data: bytes) -> cms.ContentInfo:
    return cms.ContentInfo.load(tlv.decode_single(data, 0x77).value)


def test_parse_refuses_wrong_structures() -> None:
    pki = make_pki(0, "ecdsa-p256")
    good = encode_sod(HASHES, signer_certificate=pki.ds_certificate, signer_key=pki.ds_key)
    info = _content_info(good)
    cases = []
    # wrong eContentType
    other = _content_info(good)
    other["content"]["encap_content_info"]["content_type"] = "data"
    cases.append(other)
    # two signer infos
    two = _content_info(good)
    si = two["content"]["signer_infos"][0]
    two["content"]["signer_infos"] = [si, si]
    cases.append(two)
    # no signed attributes
    bare = _content_info(good)
    bare["content"]["signer_infos"][0]["signed_attrs"] = None
    cases.append(bare)
    for case in cases:
        with pytest.raises(ParseError, match=r"EF\.SOD"):
            parse_sod(tlv.encode(0x77, case.dump(force=True)))
    assert parse_sod(tlv.encode(0x77, info.dump())).dg_hashes == HASHES
    for junk in (
        b"",
        b"\x77\x00",
        tlv.encode(0x77, b"\x30\x03\x02\x01\x00"),
        tlv.encode(0x78, b""),
        good + b"\x00",
    ):
        with pytest.raises(ParseError):
            parse_sod(junk)


@pytest.mark.parametrize("serial", [0, -5])
def test_certificate_with_non_positive_serial_is_refused(serial: int) -> None:
    # RFC 5280 §4.1.2.2: serial numbers are positive; cryptography only warns today, so we refuse first
    pki = make_pki(0, "ecdsa-p256")
    data = encode_sod(HASHES, signer_certificate=pki.ds_certificate, signer_key=pki.ds_key)
    info = cms.ContentInfo.load(tlv.decode_single(data, 0x77).value)
    cert = info["content"]["certificates"][0].chosen
    cert["tbs_certificate"]["serial_number"] = serial
    info["content"]["certificates"][0] = cms.CertificateChoices(name="certificate", value=cert)
    forged = tlv.encode(0x77, info.dump(force=True))
    with pytest.raises(ParseError, match="serial number is not positive"):
        parse_sod(forged)


def test_translated_errors_keep_their_asn1crypto_cause() -> None:
    pki = make_pki(0, "ecdsa-p256")
    good = encode_sod(HASHES, signer_certificate=pki.ds_certificate, signer_key=pki.ds_key)
    inner = bytearray(tlv.decode_single(good, 0x77).value)
    inner[1] ^= 0x01  # the outer SEQUENCE length no longer matches
    with pytest.raises(ParseError, match=r"EF\.SOD: malformed ContentInfo") as exc:
        parse_sod_checked(tlv.encode(0x77, bytes(inner)))
    assert isinstance(exc.value.__cause__, ValueError)


def test_a_bug_in_our_own_code_is_not_translated(monkeypatch: pytest.MonkeyPatch) -> None:
    """The fallback is narrow: an error raised by NetID's code between the asn1crypto calls escapes as it
    is, so the fuzz tests crash on it instead of counting it as refused input."""
    import netid.card.icao.lds.sod as sod_module

    def broken(*_: object) -> object:
        raise TypeError("a bug of ours")

    pki = make_pki(0, "ecdsa-p256")
    good = encode_sod(HASHES, signer_certificate=pki.ds_certificate, signer_key=pki.ds_key)
    # (before the translations were narrowed, this function did not exist and any error became ParseError)
    monkeypatch.setattr(sod_module, "_signed_attributes", broken, raising=False)
    with pytest.raises(TypeError, match="a bug of ours"):
        parse_sod(good)


def test_the_oracle_catches_our_own_error_translated_inside_a_block(monkeypatch: pytest.MonkeyPatch) -> None:
    """The oracle can fail: ``_matches`` reads asn1crypto objects inside a translation block, so a bug in
    it would come out as a ParseError; the oracle sees that the cause was not raised by asn1crypto."""
    import netid.card.icao.lds.sod as sod_module

    def broken(*_: object) -> bool:
        raise AttributeError("a bug of ours")

    pki = make_pki(0, "ecdsa-p256")
    good = encode_sod(HASHES, signer_certificate=pki.ds_certificate, signer_key=pki.ds_key)
    monkeypatch.setattr(sod_module, "_matches", broken)
    with pytest.raises(ParseError) as exc:
        parse_sod(good)
    with pytest.raises(AssertionError, match="translated AttributeError"):
        assert_translated_only_from_third_party(exc.value)
