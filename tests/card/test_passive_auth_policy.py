"""Passive authentication's algorithm policy and chain building, one weak or odd link at a time.

The PKIs of ``test_passive_auth.py`` are equally strong or equally weak everywhere, so a policy check can
hide behind another that fails first: deleting it keeps that suite green. Here every chain is strong but
for one link (``make_mixed_pki``, or an EF.SOD re-signed with one thing changed), so each test depends on
exactly one check — the mutation run (docs/mutation.md) found each of these untested.
"""

from __future__ import annotations

import datetime
from collections.abc import Callable

import pytest
from asn1crypto import algos, cms, core, keys
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa
from cryptography.hazmat.primitives.serialization import Encoding

from netid.card import tlv
from netid.card.icao.lds import FID_DG, FID_SOD
from netid.card.icao.lds.dg1 import encode_dg1
from netid.card.icao.lds.sod import HASHES, SignerKey, encode_sod, hash_data_group, parse_sod
from netid.card.icao.passive_auth import (
    MIN_RSA_BITS,
    CscaTrustStore,
    PassiveAuthResult,
    _pss_parameters,
    verify_passive_authentication,
)
from netid.errors import PassiveAuthenticationError
from netid.testing.cards import (
    CSCA_VALIDITY,
    DS_VALIDITY,
    TestPki,
    make_chip,
    make_mixed_pki,
    make_person,
    make_pki,
)

NOW = datetime.datetime(2026, 6, 1, tzinfo=datetime.UTC)
TODAY = NOW.date()
SECOND = datetime.timedelta(seconds=1)


def _files(pki: TestPki, seed: int = 40, **chip: object) -> dict[int, bytes]:
    image = make_chip(make_person(seed, today=TODAY), pki, aa=None, portrait_bytes=None, **chip)  # type: ignore[arg-type]
    return dict(image.files)


def _dg_hashes(files: dict[int, bytes], hash_name: str) -> dict[int, bytes]:
    return {n: hash_data_group(files[fid], hash_name) for n, fid in FID_DG.items() if fid in files}


def _fails(files: dict[int, bytes], store: CscaTrustStore, check: str, match: str = "") -> None:
    with pytest.raises(PassiveAuthenticationError, match=match) as exc:
        verify_passive_authentication(files, store, at=NOW)
    assert exc.value.check == check, str(exc.value)


def _passes(files: dict[int, bytes], store: CscaTrustStore, **kw: object) -> PassiveAuthResult:
    return verify_passive_authentication(files, store, at=kw.pop("at", NOW), **kw)  # type: ignore[arg-type]


# --- mixed chains: one weak link ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("csca", "ds"),
    [
        ("rsa-2048", "ecdsa-p256"),
        ("ecdsa-p384", "rsa-2048"),
        ("ecdsa-p256", "rsa-pss-2048"),
        ("rsa-pss-2048", "ecdsa-brainpool256"),
    ],
)
def test_strong_mixed_chains_pass(csca: str, ds: str) -> None:
    """The positive control for everything below: mixing key types is allowed."""
    pki = make_mixed_pki(csca_algorithm=csca, ds_algorithm=ds)
    result = _passes(_files(pki), pki.trust_store())
    assert result.data_groups == (1, 11, 14)


def test_weak_document_signer_key_under_a_strong_csca() -> None:
    pki = make_mixed_pki(csca_algorithm="ecdsa-p256", ds_algorithm="rsa-1024")
    _fails(_files(pki), pki.trust_store(), "algorithm", "Document Signer RSA key is shorter than 2048")


def test_weak_csca_key_over_a_strong_document_signer() -> None:
    pki = make_mixed_pki(csca_algorithm="rsa-1024", ds_algorithm="ecdsa-p256")
    _fails(_files(pki), pki.trust_store(), "algorithm", "CSCA RSA key is shorter")


def test_rsa_key_size_boundary() -> None:
    assert MIN_RSA_BITS == 2048
    pki = make_mixed_pki(csca_algorithm="rsa-2048", ds_algorithm="rsa-2048")
    assert isinstance(pki.ds_key, rsa.RSAPrivateKey) and pki.ds_key.key_size == MIN_RSA_BITS
    _passes(_files(pki), pki.trust_store())


@pytest.mark.parametrize(
    ("csca", "ds", "whose"),
    [("ecdsa-p256", "ecdsa-secp256k1", "Document Signer"), ("ecdsa-secp256k1", "ecdsa-p256", "CSCA")],
)
def test_curve_outside_the_allow_list_in_one_link(csca: str, ds: str, whose: str) -> None:
    pki = make_mixed_pki(csca_algorithm=csca, ds_algorithm=ds)
    _fails(_files(pki), pki.trust_store(), "algorithm", f"{whose} curve secp256k1 is not allowed")


@pytest.mark.parametrize("csca", ["ecdsa-p256", "rsa-2048", "rsa-pss-2048"])
def test_document_signer_certificate_signed_with_a_weak_hash(csca: str) -> None:
    """SHA-224 only on the CSCA's signature over the DS certificate: SOD, keys and CSCA are strong."""
    pki = make_mixed_pki(csca_algorithm=csca, certificate_hash="sha224")
    _fails(_files(pki), pki.trust_store(), "algorithm", "Document Signer certificate is signed with a hash")


def test_document_signer_certificate_pss_with_another_mgf1_hash() -> None:
    """RSASSA-PSS over the DS certificate with SHA-256 but MGF1-SHA-384: the policy is MGF1 with the same
    hash, for the certificate as for EF.SOD (cryptography accepts it and does not expose the MGF hash)."""
    good = make_mixed_pki(csca_algorithm="rsa-pss-2048", certificate_mgf_hash="sha256")
    _passes(_files(good), good.trust_store())
    pki = make_mixed_pki(csca_algorithm="rsa-pss-2048", certificate_mgf_hash="sha384")
    _fails(_files(pki), pki.trust_store(), "algorithm", "RSASSA-PSS hash or mask generation")


@pytest.mark.parametrize("weak", ["sha1", "sha224"])
def test_weak_data_group_hashes_under_a_strong_signature(weak: str) -> None:
    """The DG hashes bind the data to the signature: SHA-1 there is refused even under ECDSA-SHA-256."""
    pki = make_pki(41)
    files = _files(pki)
    dgs = _dg_hashes(files, weak)
    sod = encode_sod(
        dgs,
        signer_certificate=pki.ds_certificate,
        signer_key=pki.ds_key,
        hash_algorithm=weak,
        digest_algorithm="sha256",
    )
    assert parse_sod(sod).digest_algorithm == "sha256"
    _fails({**files, FID_SOD: sod}, pki.trust_store(), "algorithm", f"data group hash algorithm {weak}")


def test_weak_signer_digest_over_strong_data_group_hashes() -> None:
    pki = make_mixed_pki(csca_algorithm="rsa-2048", ds_algorithm="rsa-2048")
    files = _files(pki)
    dgs = _dg_hashes(files, "sha256")
    sod = encode_sod(
        dgs,
        signer_certificate=pki.ds_certificate,
        signer_key=pki.ds_key,
        hash_algorithm="sha256",
        digest_algorithm="sha224",
    )
    _fails({**files, FID_SOD: sod}, pki.trust_store(), "algorithm", "signer digest algorithm sha224")


# --- EF.SOD re-signed with one thing changed ---------------------------------------------------------------

ECDSA_WITH = {
    "sha256": "1.2.840.10045.4.3.2",
    "sha384": "1.2.840.10045.4.3.3",
    "sha512": "1.2.840.10045.4.3.4",
}
RSA_WITH = {"sha256": "1.2.840.113549.1.1.11", "sha384": "1.2.840.113549.1.1.12"}
RSA_ENCRYPTION = "1.2.840.113549.1.1.1"
EC_PUBLIC_KEY = "1.2.840.10045.2.1"
RSASSA_PSS = "1.2.840.113549.1.1.10"


def _info(sod: bytes) -> cms.ContentInfo:
    return cms.ContentInfo.load(tlv.decode_single(sod, 0x77).value)


def _signer_info(info: cms.ContentInfo) -> cms.SignerInfo:
    return info["content"]["signer_infos"][0]


def _dump(info: cms.ContentInfo) -> bytes:
    return tlv.encode(0x77, info.dump(force=True))


def _pss_params(
    hash_name: str = "sha256",
    *,
    mgf: str = "mgf1",
    mgf_hash: str | None = None,
    salt: int | None = None,
    trailer: int = 1,
) -> algos.RSASSAPSSParams:
    mgf_params = {"algorithm": mgf_hash or hash_name} if mgf == "mgf1" else core.Null()
    return algos.RSASSAPSSParams(
        {
            "hash_algorithm": {"algorithm": hash_name},
            "mask_gen_algorithm": {"algorithm": mgf, "parameters": mgf_params},
            "salt_length": HASHES[hash_name]().digest_size if salt is None else salt,
            "trailer_field": trailer,
        }
    )


def _sign(key: SignerKey, data: bytes, hash_name: str, pss: algos.RSASSAPSSParams | None = None) -> bytes:
    h = HASHES[hash_name]()
    if isinstance(key, ec.EllipticCurvePrivateKey):
        return key.sign(data, ec.ECDSA(h, deterministic_signing=True))
    if pss is None:
        return key.sign(data, padding.PKCS1v15(), h)
    mgf_hash = HASHES[pss["mask_gen_algorithm"]["parameters"]["algorithm"].native]()
    salt = pss["salt_length"].native
    return key.sign(data, padding.PSS(mgf=padding.MGF1(mgf_hash), salt_length=salt), h)


def _resign(
    sod: bytes,
    key: SignerKey,
    *,
    algorithm: str,
    hash_name: str,
    parameters: algos.RSASSAPSSParams | None = None,
    sign_pss: algos.RSASSAPSSParams | None = None,
    edit: Callable[[cms.ContentInfo], None] | None = None,
) -> bytes:
    """``sod`` with its SignerInfo naming ``algorithm``/``parameters``, the signed attributes changed by
    ``edit`` (if given) and a fresh signature by ``key`` with ``hash_name`` (RSASSA-PSS as ``sign_pss``
    says, defaulting to ``parameters``): a correct signature under whatever the SignerInfo now claims."""
    info = _info(sod)
    if edit is not None:
        edit(info)
    si = _signer_info(info)
    si["signature_algorithm"] = {"algorithm": algorithm, "parameters": parameters}
    attrs = cms.CMSAttributes.load(b"\x31" + si["signed_attrs"].dump(force=True)[1:])
    si["signature"] = _sign(key, attrs.dump(), hash_name, sign_pss or parameters)
    return _dump(info)


def test_resigning_unchanged_keeps_a_valid_sod() -> None:
    """The surgery below changes only what each test says."""
    pki = make_pki(42, "ecdsa-p256")
    files = _files(pki)
    sod = _resign(files[FID_SOD], pki.ds_key, algorithm=ECDSA_WITH["sha256"], hash_name="sha256")
    _passes({**files, FID_SOD: sod}, pki.trust_store())


@pytest.mark.parametrize(("algorithm", "oid", "name"), [
    ("ecdsa-p256", EC_PUBLIC_KEY, "ecdsa-sha256"),
    ("rsa-2048", RSA_ENCRYPTION, "rsa-pkcs1v15-sha256"),
])  # fmt: skip
def test_key_type_oid_takes_the_hash_from_the_digest_algorithm(algorithm: str, oid: str, name: str) -> None:
    """Many SODs name only the key type (rsaEncryption, id-ecPublicKey); the hash is the digest's."""
    pki = make_pki(42, algorithm)
    files = _files(pki)
    sod = _resign(files[FID_SOD], pki.ds_key, algorithm=oid, hash_name="sha256")
    assert _passes({**files, FID_SOD: sod}, pki.trust_store()).signature_algorithm == name


@pytest.mark.parametrize(
    ("algorithm", "kind"), [("ecdsa-p256", "ecdsa"), ("rsa-2048", "rsa"), ("rsa-pss-2048", "pss")]
)
def test_signature_hash_unlike_the_digest_algorithm(algorithm: str, kind: str) -> None:
    """Digest (and message-digest attribute) SHA-256, signature with SHA-384: a correct signature, but the
    SignerInfo's two hashes disagree, which RFC 5652 does not allow and NetID refuses."""
    pki = make_pki(43, algorithm)
    files = _files(pki)
    params = _pss_params("sha384") if kind == "pss" else None
    oid = {"ecdsa": ECDSA_WITH["sha384"], "rsa": RSA_WITH["sha384"], "pss": RSASSA_PSS}[kind]
    sod = _resign(files[FID_SOD], pki.ds_key, algorithm=oid, hash_name="sha384", parameters=params)
    assert parse_sod(sod).digest_algorithm == "sha256"
    _fails({**files, FID_SOD: sod}, pki.trust_store(), "algorithm", "signature hash differs")


@pytest.mark.parametrize(
    ("algorithm", "oid"),
    [
        ("rsa-2048", "1.2.840.113549.1.1.5"),  # sha1WithRSAEncryption
        ("ecdsa-p256", "1.2.840.10045.4.1"),  # ecdsa-with-SHA1
        ("ecdsa-p256", "1.3.101.112"),  # Ed25519
        ("ecdsa-p256", "1.2.3.4"),  # nothing at all
    ],
)
def test_unknown_signature_algorithm_oid(algorithm: str, oid: str) -> None:
    pki = make_pki(44, algorithm)
    files = _files(pki)
    sod = _resign(files[FID_SOD], pki.ds_key, algorithm=oid, hash_name="sha256")
    _fails(
        {**files, FID_SOD: sod},
        pki.trust_store(),
        "algorithm",
        f"SOD signature algorithm {oid} is not allowed",
    )


@pytest.mark.parametrize(
    ("algorithm", "oid", "message"),
    [
        ("ecdsa-p256", RSA_WITH["sha256"], "key is EC but the signature algorithm is RSA"),
        ("rsa-2048", ECDSA_WITH["sha256"], "key is RSA but the signature algorithm is ECDSA"),
    ],
)
def test_signature_algorithm_for_another_key_type(algorithm: str, oid: str, message: str) -> None:
    pki = make_pki(45, algorithm)
    files = _files(pki)
    # the signature itself is made the right way for the key: only the named algorithm is wrong
    sod = _resign(files[FID_SOD], pki.ds_key, algorithm=oid, hash_name="sha256")
    _fails({**files, FID_SOD: sod}, pki.trust_store(), "algorithm", message)


@pytest.mark.parametrize(
    ("params", "signer"),
    [
        (None, _pss_params()),  # absent: RFC 4055's defaults are SHA-1
        (_pss_params("sha1"), None),
        (_pss_params(mgf_hash="sha384"), None),
        (_pss_params(mgf_hash="sha1"), None),
        (_pss_params(salt=513), _pss_params(salt=32)),
        (_pss_params(trailer=2), _pss_params()),
    ],
    ids=["absent", "sha1", "mgf1-sha384", "mgf1-sha1", "salt-513", "trailer-2"],
)
def test_rsassa_pss_parameters_outside_the_policy(
    params: algos.RSASSAPSSParams | None, signer: algos.RSASSAPSSParams | None
) -> None:
    pki = make_pki(46, "rsa-pss-2048")
    files = _files(pki)
    hash_name = (
        "sha1" if params is not None and params["hash_algorithm"]["algorithm"].native == "sha1" else "sha256"
    )
    sod = _resign(
        files[FID_SOD],
        pki.ds_key,
        algorithm=RSASSA_PSS,
        hash_name=hash_name,
        parameters=params,
        sign_pss=signer,
    )
    _fails({**files, FID_SOD: sod}, pki.trust_store(), "algorithm", "RSASSA-PSS")


def test_rsassa_pss_mask_generation_other_than_mgf1() -> None:
    der = _pss_params(mgf="1.2.840.113549.1.1.99").dump()
    with pytest.raises(PassiveAuthenticationError, match="mask generation") as exc:
        _pss_parameters(der)
    assert exc.value.check == "algorithm"


@pytest.mark.parametrize("salt", [0, 32, 512])
def test_rsassa_pss_salt_lengths_inside_the_policy(salt: int) -> None:
    assert _pss_parameters(_pss_params(salt=salt).dump()) == ("sha256", salt)


def test_rsassa_pss_mgf1_without_its_hash() -> None:
    params = _pss_params()
    params["mask_gen_algorithm"] = {"algorithm": "mgf1"}
    with pytest.raises(PassiveAuthenticationError, match="hash or mask generation is not allowed"):
        _pss_parameters(params.dump(force=True))


def test_rsassa_pss_mask_generation_other_than_mgf1_with_parameters() -> None:
    params = _pss_params()
    params["mask_gen_algorithm"] = algos.MaskGenAlgorithm(
        {"algorithm": "1.2.840.113549.1.1.99", "parameters": algos.DigestAlgorithm({"algorithm": "sha256"})}
    )
    with pytest.raises(PassiveAuthenticationError, match="hash or mask generation is not allowed"):
        _pss_parameters(params.dump(force=True))


def test_rsassa_pss_parameters_that_do_not_decode() -> None:
    """parse_sod decodes them already; a SecurityObject built another way still gets a clean refusal."""
    good = _pss_params().dump()
    mgf1_hash_garbage = good.replace(
        bytes.fromhex("300d06096086480165030402010500"), bytes.fromhex("3003020105")
    )
    assert mgf1_hash_garbage != good
    for der in (b"\x30\x03\x02\x01", b"\x05\x00", good[:-1], good + b"\x00", mgf1_hash_garbage):
        with pytest.raises(PassiveAuthenticationError, match="malformed RSASSA-PSS") as exc:
            _pss_parameters(der)
        assert exc.value.check == "algorithm"
        assert exc.value.__cause__ is not None


def test_rsassa_pss_sod_with_sha384_passes() -> None:
    pki = make_pki(47, "rsa-pss-2048")
    files = _files(pki)
    params = _pss_params("sha384")
    edit = _set_message_digest_algorithm("sha384")
    sod = _resign(
        files[FID_SOD], pki.ds_key, algorithm=RSASSA_PSS, hash_name="sha384", parameters=params, edit=edit
    )
    assert _passes({**files, FID_SOD: sod}, pki.trust_store()).signature_algorithm == "rsassa-pss-sha384"


def _set_message_digest_algorithm(name: str) -> Callable[[cms.ContentInfo], None]:
    def edit(info: cms.ContentInfo) -> None:
        si = _signer_info(info)
        si["digest_algorithm"] = {"algorithm": name}
        lds = bytes(info["content"]["encap_content_info"]["content"].contents)
        _set_attribute(info, "message_digest", hash_data_group(lds, name))

    return edit


def _set_attribute(info: cms.ContentInfo, kind: str, value: object) -> None:
    attrs = _signer_info(info)["signed_attrs"]
    for i, attr in enumerate(attrs):
        if attr["type"].native == kind:
            attrs[i] = {"type": kind, "values": [value]}
            return
    raise AssertionError(kind)


# --- the signed attributes bind the content ----------------------------------------------------------------


def _forged_dg1(files: dict[int, bytes]) -> bytes:
    other = make_person(99, today=TODAY)
    forged = encode_dg1(other.mrz())
    assert forged != files[FID_DG[1]]
    return forged


@pytest.mark.parametrize("algorithm", ["ecdsa-p256", "rsa-pss-2048"])
def test_content_swapped_under_a_kept_signature(algorithm: str) -> None:
    """A forger keeps the signed attributes and the signature and swaps the LDSSecurityObject for one
    listing a forged DG1: only the signed message-digest attribute ties the content to the signature."""
    pki = make_pki(48, algorithm)
    files = _files(pki)
    forged_dg1 = _forged_dg1(files)
    original = parse_sod(files[FID_SOD])
    forged_hashes = {**original.dg_hashes, 1: hash_data_group(forged_dg1, "sha256")}
    other_key = make_pki(49).ds_key  # any key: only the content is taken from this SOD
    swapped_lds = parse_sod(
        encode_sod(forged_hashes, signer_certificate=make_pki(49).ds_certificate, signer_key=other_key)
    ).lds_security_object
    info = _info(files[FID_SOD])
    info["content"]["encap_content_info"]["content"] = core.ParsableOctetString(swapped_lds)
    forged_sod = _dump(info)
    forged = parse_sod(forged_sod)
    assert forged.signature == original.signature and forged.signed_attrs == original.signed_attrs
    assert forged.dg_hashes[1] == hash_data_group(forged_dg1, "sha256")
    _fails(
        {**files, FID_DG[1]: forged_dg1, FID_SOD: forged_sod},
        pki.trust_store(),
        "sod_signature",
        "message-digest does not match",
    )


def test_signed_content_type_other_than_lds_security_object() -> None:
    pki = make_pki(50)
    files = _files(pki)

    def edit(info: cms.ContentInfo) -> None:
        _set_attribute(info, "content_type", "data")

    sod = _resign(files[FID_SOD], pki.ds_key, algorithm=ECDSA_WITH["sha256"], hash_name="sha256", edit=edit)
    assert parse_sod(sod).signed_content_type == "1.2.840.113549.1.7.1"
    _fails({**files, FID_SOD: sod}, pki.trust_store(), "sod_signature", "content-type")


# --- finding the CSCA ---------------------------------------------------------------------------------------


def _no_ski_csca(subject: x509.Name, key: ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey) -> x509.Certificate:
    """A TEST ONLY CA certificate named ``subject`` with ``key`` and no subject key identifier."""
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(77)
        .not_valid_before(CSCA_VALIDITY[0])
        .not_valid_after(CSCA_VALIDITY[1])
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .sign(key, hashes.SHA256())
    )


def test_a_csca_with_another_name_does_not_stop_the_search() -> None:
    pki = make_pki(0)
    files = _files(pki)
    other_name = make_pki(1).csca_certificate
    assert other_name.subject != pki.csca_certificate.subject
    for order in ([other_name, pki.csca_certificate], [pki.csca_certificate, other_name]):
        store = CscaTrustStore(order)
        assert store.find_issuers(pki.ds_certificate) == [pki.csca_certificate]
        assert _passes(files, store).csca_subject == pki.csca_certificate.subject.rfc4514_string()


def test_a_csca_with_the_name_but_another_key_identifier_does_not_stop_the_search() -> None:
    pki = make_pki(0)
    files = _files(pki)
    same_name = make_pki(0, "ecdsa-brainpool256").csca_certificate  # rollover: same name, new key
    assert same_name.subject == pki.csca_certificate.subject
    for order in ([same_name, pki.csca_certificate], [pki.csca_certificate, same_name]):
        store = CscaTrustStore(order)
        assert store.find_issuers(pki.ds_certificate) == [pki.csca_certificate]
        _passes(files, store)


def test_a_csca_without_key_identifier_is_a_candidate_by_name() -> None:
    pki = make_pki(0)
    impostor = _no_ski_csca(pki.csca_certificate.subject, ec.derive_private_key(2468, ec.SECP256R1()))
    store = CscaTrustStore([impostor, pki.csca_certificate])
    assert store.find_issuers(pki.ds_certificate) == [impostor, pki.csca_certificate]
    # a certificate without an authority key identifier (here the self-signed CSCA) matches every
    # same-name CSCA, key identifier or not
    rollover = make_pki(0, "ecdsa-brainpool256").csca_certificate
    store = CscaTrustStore([rollover, impostor, pki.csca_certificate])
    assert store.find_issuers(pki.csca_certificate) == [rollover, impostor, pki.csca_certificate]


@pytest.mark.parametrize("weak", ["rsa-1024", "ecdsa-secp256k1"])
def test_a_weak_same_name_csca_that_did_not_sign_is_skipped(weak: str) -> None:
    """Key rollover: an old weak CSCA with the same name (no key identifier) before the real one. The
    signature decides which CSCA issued the DS certificate; only that one's key must meet the policy."""
    pki = make_pki(0)
    files = _files(pki)
    old_key = make_mixed_pki(51, csca_algorithm=weak).csca_key
    old = _no_ski_csca(pki.csca_certificate.subject, old_key)
    assert _passes(files, CscaTrustStore([old, pki.csca_certificate])).csca_certificate == (
        pki.csca_certificate.public_bytes(Encoding.DER)
    )


# --- validity boundaries ----------------------------------------------------------------------------------


def test_certificates_are_valid_on_their_boundaries_inclusive() -> None:
    pki = make_pki(0)
    files = _files(pki)
    store = pki.trust_store()
    for at in (DS_VALIDITY[0], DS_VALIDITY[1]):
        _passes(files, store, at=at)
    for at in (DS_VALIDITY[0] - SECOND, DS_VALIDITY[1] + SECOND):
        with pytest.raises(PassiveAuthenticationError, match="Document Signer certificate is not valid"):
            _passes(files, store, at=at)
    short_csca = make_pki(52, csca_not_valid_after=DS_VALIDITY[1] - datetime.timedelta(days=1))
    end = short_csca.csca_certificate.not_valid_after_utc
    short_files = _files(short_csca)
    _passes(short_files, short_csca.trust_store(), at=end)
    with pytest.raises(PassiveAuthenticationError, match="CSCA certificate is not valid"):
        _passes(short_files, short_csca.trust_store(), at=end + SECOND)


# --- certificates and keys the policy does not know -------------------------------------------------------


def _document_signer(
    issuer: TestPki,
    public_key: object,
    *,
    extensions: tuple[x509.ExtensionType, ...] = (),
    sign: Callable[[x509.CertificateBuilder], x509.Certificate] | None = None,
) -> x509.Certificate:
    """A TEST ONLY DS certificate for ``public_key`` under ``issuer``'s CSCA name (signed by its key)."""
    builder = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(x509.NameOID.COMMON_NAME, "NetID TEST ONLY odd DS")]))
        .issuer_name(issuer.csca_certificate.subject)
        .public_key(public_key)  # type: ignore[arg-type]
        .serial_number(4242)
        .not_valid_before(DS_VALIDITY[0])
        .not_valid_after(DS_VALIDITY[1])
    )
    for extension in extensions:
        builder = builder.add_extension(extension, critical=False)
    if sign is not None:
        return sign(builder)
    assert isinstance(issuer.csca_key, ec.EllipticCurvePrivateKey)
    return builder.sign(issuer.csca_key, hashes.SHA256())


def _sod_for(files: dict[int, bytes], certificate: x509.Certificate, key: SignerKey) -> dict[int, bytes]:
    sod = encode_sod(_dg_hashes(files, "sha256"), signer_certificate=certificate, signer_key=key)
    return {**files, FID_SOD: sod}


def test_document_signer_key_neither_rsa_nor_ec() -> None:
    pki = make_pki(0)
    cert = _document_signer(pki, ed25519.Ed25519PrivateKey.generate().public_key())
    files = _sod_for(_files(pki), cert, pki.ds_key)  # an ECDSA SignerInfo: only the key is odd
    _fails(files, pki.trust_store(), "algorithm", "Document Signer key is neither RSA nor EC")


def test_document_signer_certificate_signed_without_a_hash() -> None:
    """An Ed25519 CSCA signs with no separate hash: outside the allow-list, refused before the chain."""
    pki = make_pki(0)
    csca_key = ed25519.Ed25519PrivateKey.generate()
    cert = _document_signer(pki, pki.ds_key.public_key(), sign=lambda b: b.sign(csca_key, None))
    files = _sod_for(_files(pki), cert, pki.ds_key)
    _fails(files, pki.trust_store(), "algorithm", "Document Signer certificate is signed with a hash")


def _with_certificate_signature_algorithm(files: dict[int, bytes], oid: str) -> dict[int, bytes]:
    info = _info(files[FID_SOD])
    cert = info["content"]["certificates"][0].chosen
    cert["signature_algorithm"] = {"algorithm": oid}
    cert["tbs_certificate"]["signature"] = {"algorithm": oid}
    info["content"]["certificates"][0] = cms.CertificateChoices(name="certificate", value=cert)
    return {**files, FID_SOD: _dump(info)}


def test_document_signer_certificate_with_an_unknown_signature_algorithm() -> None:
    pki = make_pki(0)
    files = _with_certificate_signature_algorithm(_files(pki), "1.2.3.4.5")
    assert parse_sod(files[FID_SOD]).signer_certificate is not None  # issuer and serial still match
    _fails(
        files,
        pki.trust_store(),
        "algorithm",
        "Document Signer certificate signature algorithm is not supported",
    )


@pytest.mark.parametrize("extension", [x509.ExtensionOID.KEY_USAGE, x509.ExtensionOID.BASIC_CONSTRAINTS])
def test_document_signer_with_an_undecodable_extension(extension: x509.ObjectIdentifier) -> None:
    """A key usage or basic constraints that cannot be read cannot show the certificate may sign."""
    pki = make_pki(0)
    key = ec.derive_private_key(97531, ec.SECP256R1())
    garbage = x509.UnrecognizedExtension(extension, b"\x05\x00")
    cert = _document_signer(pki, key.public_key(), extensions=(garbage,))
    files = _sod_for(_files(pki), cert, key)
    _fails(files, pki.trust_store(), "ds_chain", "key usage does not allow digital signatures")
    fine = _document_signer(pki, key.public_key())  # the positive control: the same without it
    assert _passes(_sod_for(_files(pki), fine, key), pki.trust_store()).ds_subject.startswith("CN=NetID TEST")


def test_certificate_pss_parameters_that_asn1crypto_cannot_read(monkeypatch: pytest.MonkeyPatch) -> None:
    """cryptography accepted the certificate; should asn1crypto not, the refusal is 'algorithm', with
    asn1crypto's error kept as the cause."""
    from netid.card.icao import passive_auth

    pki = make_mixed_pki(csca_algorithm="rsa-pss-2048")
    files = _files(pki)

    def refuse(*_: object, **__: object) -> object:
        raise ValueError("asn1crypto says no")

    monkeypatch.setattr(passive_auth.asn1_x509.Certificate, "load", refuse)
    with pytest.raises(
        PassiveAuthenticationError, match=r"malformed signature algorithm parameters \(ValueError"
    ) as exc:
        verify_passive_authentication(files, pki.trust_store(), at=NOW)
    assert exc.value.check == "algorithm" and isinstance(exc.value.__cause__, ValueError)


# --- order of the data group checks ---------------------------------------------------------------------


def test_a_changed_data_group_is_reported_before_an_unlisted_one() -> None:
    """Checks run in a fixed order: every listed data group is hashed (dg_hash) before unlisted ones are
    reported (dg_missing), even when an unlisted one comes first."""
    pki = make_pki(0)
    person = make_person(53, today=TODAY)
    image = make_chip(person, pki, aa=None, sod_data_groups=(1, 11, 14))
    files = dict(image.files)
    assert FID_DG[2] in files  # read, but not in the SOD
    files[FID_DG[11]] = files[FID_DG[11]][:-1] + bytes([files[FID_DG[11]][-1] ^ 1])
    _fails(files, pki.trust_store(), "dg_hash", "DG11")
    del files[FID_DG[11]]
    _fails(files, pki.trust_store(), "dg_missing", "DG2 was read but EF.SOD does not list it")


def test_result_names_the_algorithms() -> None:
    pki = make_mixed_pki(csca_algorithm="rsa-2048", ds_algorithm="ecdsa-p384", sod_hash="sha384")
    result = _passes(_files(pki), pki.trust_store())
    assert (result.hash_algorithm, result.signature_algorithm) == ("sha384", "ecdsa-sha384")
    assert result.security_object.dg_hashes.keys() == {1, 11, 14}


def test_document_signer_key_on_a_curve_cryptography_does_not_know() -> None:
    """The certificate parses, its key does not: EF.SOD carries no usable Document Signer certificate."""
    pki = make_pki(0)
    files = _files(pki)
    info = _info(files[FID_SOD])
    cert = info["content"]["certificates"][0].chosen
    cert["tbs_certificate"]["subject_public_key_info"]["algorithm"]["parameters"] = keys.ECDomainParameters(
        name="named", value="1.2.3.4.5.6"
    )
    info["content"]["certificates"][0] = cms.CertificateChoices(name="certificate", value=cert)
    files = {**files, FID_SOD: _dump(info)}
    assert parse_sod(files[FID_SOD]).signer_certificate is not None
    _fails(
        files,
        pki.trust_store(),
        "sod_format",
        r"unusable Document Signer certificate \(UnsupportedAlgorithm\)",
    )
