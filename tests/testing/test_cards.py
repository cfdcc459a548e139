"""The test kit: realistic, deterministic persons, PKIs and chips, and its fault helpers."""

from __future__ import annotations

import datetime
import subprocess
import sys

import pytest
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from netid.card import tlv
from netid.card.icao.aa import verify_active_authentication
from netid.card.icao.access import CanAccessKey, MrzAccessKey
from netid.card.icao.document import EmrtdDocument
from netid.card.icao.lds import FID_CARD_ACCESS, FID_COM, FID_DG, FID_SOD
from netid.card.icao.lds.dg15 import parse_dg15
from netid.card.icao.mrz import parse_mrz
from netid.card.icao.passive_auth import verify_passive_authentication
from netid.card.icao.read_document import CardReadout, read_document
from netid.card.icao.security_infos import (
    ECDSA_PLAIN_SHA256,
    ID_PACE_ECDH_GM_AES_CBC_CMAC_128,
    parse_security_infos,
)
from netid.card.simulator import SimulatedCard, SimulatorReader
from netid.card.simulator.image import ChipImage
from netid.errors import ActiveAuthenticationError, UsageError
from netid.personal_number import validate_personal_number
from netid.testing.cards import (
    REGIONS,
    TEST_ONLY_ORGANIZATION,
    clone_chip,
    make_card,
    make_chip,
    make_person,
    make_pki,
    synthetic_portrait,
    tamper_file,
)

TODAY = datetime.date(2026, 6, 1)


def test_person_is_deterministic_and_consistent() -> None:
    a, b = make_person(42, today=TODAY), make_person(42, today=TODAY)
    assert a == b
    assert make_person(43, today=TODAY) != a
    info = validate_personal_number(a.personal_number)
    assert info.date_of_birth == a.date_of_birth
    assert info.sex == a.sex
    assert info.region_code in REGIONS
    assert a.full_name == a.surname + a.given_names and all(ord(c) > 0x2E80 for c in a.full_name)
    assert a.surname_latin.isascii() and a.surname_latin.isupper()
    assert a.date_of_issue <= TODAY < a.date_of_expiry
    assert len(a.can) == 6 and a.can.isdigit()
    assert a.personal_number not in repr(a)


@pytest.mark.parametrize("age", [0, 15, 17, 18, 19, 45, 90])
def test_requested_age_is_exact(age: int) -> None:
    for seed in range(5):
        assert make_person(seed, age=age, today=TODAY).age_on(TODAY) == age


def test_person_options_and_errors() -> None:
    p = make_person(1, today=TODAY, sex="F", region_code="440305")
    assert p.sex == "F" and p.personal_number.startswith("440305") and int(p.personal_number[16]) % 2 == 0
    assert "深圳市" in p.address
    for bad in ({"age": -1}, {"sex": "X"}, {"region_code": "999999"}):
        with pytest.raises(UsageError):
            make_person(1, today=TODAY, **bad)


def test_mrz_matches_person() -> None:
    p = make_person(7, today=TODAY)
    mrz = parse_mrz(p.mrz())
    assert mrz.format == "TD1" and mrz.document_code == "ID" and mrz.nationality == "CHN"
    assert (mrz.surname, mrz.given_names.replace(" ", "")) == (p.surname_latin, p.given_names_latin)
    assert mrz.access_key == p.access_key


def test_pki_certificates_are_marked_and_deterministic() -> None:
    pki = make_pki(0, "ecdsa-brainpool256")
    for cert in (pki.csca_certificate, pki.ds_certificate):
        assert TEST_ONLY_ORGANIZATION in cert.subject.rfc4514_string()
    assert pki.ds_certificate.issuer == pki.csca_certificate.subject
    assert pki.csca_key.private_numbers() == make_pki(0, "ecdsa-brainpool256").csca_key.private_numbers()
    # EC keys are derived from the seed, so they agree across processes: compare with a fresh interpreter
    code = (
        "from netid.testing.cards import make_pki;"
        "print(make_pki(0, 'ecdsa-brainpool256').ds_certificate.fingerprint("
        "__import__('cryptography.hazmat.primitives.hashes', fromlist=['SHA256']).SHA256()).hex())"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout.strip()
    from cryptography.hazmat.primitives.hashes import SHA256

    assert out == pki.ds_certificate.fingerprint(SHA256()).hex()
    assert "TEST ONLY" in repr(pki)
    with pytest.raises(UsageError):
        make_pki(0, "dsa-1024")
    with pytest.raises(UsageError):
        make_pki(0, "ecdsa-p256", hash_algorithm="md5")


def test_chip_contents() -> None:
    card = make_card(11, today=TODAY)
    files = card.image.files
    assert set(files) == {FID_CARD_ACCESS, FID_COM, FID_SOD} | {FID_DG[n] for n in (1, 2, 11, 14, 15)}
    access = parse_security_infos(files[FID_CARD_ACCESS])
    assert [(p.protocol_oid, p.version, p.parameter_id) for p in access.pace] == [
        (ID_PACE_ECDH_GM_AES_CBC_CMAC_128, 2, 13)
    ]
    doc = EmrtdDocument.from_files(files, today=TODAY)
    assert doc.personal_number == card.person.personal_number
    assert doc.full_name == card.person.full_name
    assert doc.date_of_birth == card.person.date_of_birth
    assert doc.date_of_expiry == card.person.date_of_expiry
    assert doc.portrait is not None and doc.portrait[:2] == b"\xff\xd8"
    assert 14_900 <= len(doc.portrait) <= 15_100
    assert doc.security_infos is not None and doc.security_infos.active_authentication is not None
    assert doc.security_infos.active_authentication.signature_algorithm_oid == ECDSA_PLAIN_SHA256
    assert card.image.mrz_information == card.access_key.mrz_information
    assert card.can.can == card.person.can == card.image.can
    assert isinstance(card.image.aa_private_key, ec.EllipticCurvePrivateKey)
    assert parse_dg15(files[FID_DG[15]]).public_key() == card.image.aa_private_key.public_key()
    assert verify_passive_authentication(files, card.trust_store).data_groups == (1, 2, 11, 14, 15)
    assert card.person.personal_number not in repr(card)


def test_chip_options() -> None:
    person = make_person(12, today=TODAY)
    pki = make_pki(0)
    image = make_chip(person, pki, pace_parameter_ids=(), aa=None, portrait_bytes=None, bac=True)
    assert (
        FID_CARD_ACCESS not in image.files and FID_DG[14] not in image.files and FID_DG[2] not in image.files
    )
    assert image.aa_private_key is None
    rsa_chip = make_chip(
        person, pki, aa="rsa-1024", pace_parameter_ids=(12, 13), extended_length=False, can="654321"
    )
    assert isinstance(rsa_chip.aa_private_key, rsa.RSAPrivateKey) and rsa_chip.can == "654321"
    assert not rsa_chip.extended_length
    doc = EmrtdDocument.from_files(rsa_chip.files, today=TODAY)
    assert doc.security_infos is not None and doc.security_infos.active_authentication is None
    assert [p.parameter_id for p in doc.security_infos.pace] == [12, 13]
    big = make_chip(person, pki, portrait_bytes=40_000)
    assert len(EmrtdDocument.from_files(big.files).portrait or b"") >= 39_900
    with pytest.raises(UsageError):
        make_chip(person, pki, aa="rsa-pss-2048")


def test_same_seed_same_chip() -> None:
    assert make_card(13, today=TODAY).image.files == make_card(13, today=TODAY).image.files


def test_portrait_needs_no_pillow_at_run_time() -> None:
    code = (
        "import sys; from netid.testing.cards import make_card; make_card(1);"
        "assert 'PIL' not in sys.modules, 'Pillow imported'"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
    assert synthetic_portrait(100)[:2] == b"\xff\xd8"  # smaller than the base: unpadded


@pytest.mark.parametrize("dg", [1, 2, 11, 14, 15])
def test_tamper_keeps_structure(dg: int) -> None:
    card = make_card(14, today=TODAY)
    fid = FID_DG[dg]
    tampered = tamper_file(card.image, fid)
    before, after = card.image.files[fid], tampered.files[fid]
    assert len(before) == len(after) and before != after
    assert sum(x != y for x, y in zip(before, after, strict=True)) == 1
    tlv.decode_single(after)  # TLV still parses
    assert {k: v for k, v in tampered.files.items() if k != fid} == {
        k: v for k, v in card.image.files.items() if k != fid
    }
    with pytest.raises(UsageError):
        tamper_file(card.image, 0x0110)


def test_tampered_name_still_parses() -> None:
    card = make_card(15, today=TODAY)
    doc = EmrtdDocument.from_files(tamper_file(card.image, FID_DG[1]).files, today=TODAY)
    assert doc.mrz.given_names != card.person.given_names_latin  # the unprotected name line changed


def test_clone_copies_files_but_not_the_key() -> None:
    for aa in ("ecdsa-p256", "rsa-1024"):
        card = make_card(16, today=TODAY, aa=aa)
        clone = clone_chip(card.image, seed=3)
        assert clone.files == card.image.files
        assert clone.aa_private_key is not None and card.image.aa_private_key is not None
        assert type(clone.aa_private_key) is type(card.image.aa_private_key)
        assert clone.aa_private_key.public_key() != card.image.aa_private_key.public_key()
        assert clone.labels["clone"] == "3"
        verify_passive_authentication(clone.files, card.trust_store)  # passive authentication cannot tell
    assert clone_chip(make_card(17, aa=None).image).aa_private_key is None


# --- end to end: the simulator and the read driver over test-kit cards --------------------------------

CHALLENGE = bytes(range(8))


def _read(image: ChipImage, key: MrzAccessKey | CanAccessKey) -> CardReadout:
    return read_document(SimulatorReader(SimulatedCard(image)).connect(), key, aa_challenge=CHALLENGE)


@pytest.mark.parametrize("aa", ["ecdsa-p256", "rsa-1024"])
def test_read_verify_and_detect_a_clone(aa: str) -> None:
    card = make_card(18, today=TODAY, aa=aa)
    readout = _read(card.image, card.access_key)
    assert readout.access_protocol == "PACE"
    assert dict(readout.files) == dict(card.image.files)
    assert verify_passive_authentication(readout.files, card.trust_store).data_groups == (1, 2, 11, 14, 15)
    dg15 = parse_dg15(readout.files[FID_DG[15]])
    assert readout.aa_signature is not None
    verify_active_authentication(dg15.public_key_info, CHALLENGE, readout.aa_signature)

    cloned = _read(clone_chip(card.image), card.can)
    verify_passive_authentication(cloned.files, card.trust_store)  # the copied data is genuine...
    assert cloned.aa_signature is not None
    with pytest.raises(ActiveAuthenticationError):  # ...but the chip is not
        verify_active_authentication(dg15.public_key_info, CHALLENGE, cloned.aa_signature)


def test_bac_only_card_reads() -> None:
    card = make_card(19, today=TODAY, pace_parameter_ids=())
    readout = _read(card.image, card.access_key)
    assert readout.access_protocol == "BAC"
    assert EmrtdDocument.from_files(readout.files, today=TODAY).full_name == card.person.full_name
