"""LDS files: EF.COM, DG1, DG2, DG11, DG14, DG15 — encode/parse round trips and malformed input."""

from __future__ import annotations

import datetime

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from netid.card import tlv
from netid.card.icao.lds.com import EfCom, encode_com, parse_com
from netid.card.icao.lds.dg1 import encode_dg1, parse_dg1
from netid.card.icao.lds.dg2 import encode_dg2, parse_dg2
from netid.card.icao.lds.dg11 import Dg11, encode_dg11, full_name_field, parse_dg11
from netid.card.icao.lds.dg14 import encode_dg14, parse_dg14
from netid.card.icao.lds.dg15 import encode_dg15, parse_dg15
from netid.card.icao.mrz import parse_mrz
from netid.card.icao.security_infos import (
    ECDSA_PLAIN_SHA256,
    ID_PACE_ECDH_GM_AES_CBC_CMAC_128,
    ActiveAuthenticationInfo,
    PaceInfo,
    SecurityInfos,
)
from netid.errors import ParseError, UsageError
from netid.testing.cards import synthetic_portrait
from tests.vectors import h, load_vectors

MRZ = load_vectors("icao9303-mrz")
SM = load_vectors("icao9303-11")["secure_messaging_3des"]


# --- EF.COM -----------------------------------------------------------------------------------------


def test_com_from_the_icao_worked_example() -> None:
    # ICAO 9303-11 Appendix D.4 reads EF.COM in two chunks; together they are the whole file
    exchanges = SM["exchanges"]
    com = parse_com(h(exchanges[1]["response_data"]) + h(exchanges[2]["response_data"]))
    assert com == EfCom("0106", "040000", (1, 2))


def test_com_round_trip_and_errors() -> None:
    data = encode_com([1, 2, 11, 14, 15])
    assert parse_com(data) == EfCom("0107", "040000", (1, 2, 11, 14, 15))
    with pytest.raises(ParseError, match=r"EF\.COM"):
        parse_com(tlv.encode(0x60, [tlv.encode(0x5F01, b"0107"), tlv.encode(0x5C, b"\x61")]))
    with pytest.raises(ParseError, match="unknown tag"):
        parse_com(encode_com([1])[:-1] + b"\x99")
    with pytest.raises(UsageError):
        encode_com([17])


# --- DG1 --------------------------------------------------------------------------------------------


def test_dg1_round_trip() -> None:
    text = MRZ["td1"]["text"]
    data = encode_dg1(text)
    assert tlv.decode_single(data, 0x61).child(0x5F1F).value == text.replace("\n", "").encode()
    assert parse_dg1(data) == parse_mrz(text)
    assert encode_dg1(parse_mrz(text)) == data


def test_dg1_errors() -> None:
    with pytest.raises(ParseError, match="DG1"):
        parse_dg1(tlv.encode(0x61, tlv.encode(0x5F1F, b"\xff" * 90)))
    with pytest.raises(ParseError, match="DG1"):
        parse_dg1(tlv.encode(0x61, tlv.encode(0x5F1F, MRZ["td1"]["text"].encode())))  # newlines
    with pytest.raises(ParseError, match="DG1"):
        parse_dg1(tlv.encode(0x62, b""))
    with pytest.raises(UsageError):
        encode_dg1("not an mrz")


# --- DG2 --------------------------------------------------------------------------------------------


def test_dg2_round_trip_wraps_a_19794_5_record() -> None:
    jpeg = synthetic_portrait(15_000)
    assert jpeg[:2] == b"\xff\xd8" and abs(len(jpeg) - 15_000) <= 4
    data = encode_dg2(jpeg, width=240, height=320)
    bdb = tlv.decode_single(data, 0x75).child(0x7F61).child(0x7F60).child(0x5F2E).value
    assert bdb[:8] == b"FAC\x00010\x00"
    dg2 = parse_dg2(data)
    assert len(dg2.faces) == 1
    face = dg2.portrait
    assert (face.image, face.mime_type, face.width, face.height) == (jpeg, "image/jpeg", 240, 320)
    assert "bytes image/jpeg" in repr(face) and len(repr(face)) < 100


def test_dg2_jpeg2000_mime() -> None:
    face = parse_dg2(encode_dg2(b"\x00\x00\x00\x0cjP  payload", width=1, height=1, mime_type="image/jp2"))
    assert face.portrait.mime_type == "image/jp2"


def _rebuild_bdb(data: bytes, bdb: bytes) -> bytes:
    outer = tlv.decode_single(data, 0x75)
    group = outer.child(0x7F61)
    bit = group.child(0x7F60)
    new_bit = tlv.encode(0x7F60, [bit.child(0xA1).to_bytes(), tlv.encode(0x5F2E, bdb)])
    return tlv.encode(0x75, tlv.encode(0x7F61, [group.child(0x02).to_bytes(), new_bit]))


def test_dg2_malformed_records() -> None:
    good = encode_dg2(b"\xff\xd8 jpeg \xff\xd9", width=2, height=2)
    bdb = tlv.decode_single(good, 0x75).child(0x7F61).child(0x7F60).child(0x5F2E).value
    bad_records = [
        b"JPG\x00" + bdb[4:],  # not a face record
        bdb[:8] + (len(bdb) + 1).to_bytes(4, "big") + bdb[12:],  # record length lies
        bdb[:12] + b"\x00\x00" + bdb[14:],  # zero images
        bdb[:14] + b"\xff\xff\xff\xff" + bdb[18:],  # facial record data length past the end
        bdb[:18] + b"\x10\x00" + bdb[20:],  # 4096 feature points in a tiny record
        bdb[:35] + b"\x07" + bdb[36:],  # image data type neither JPEG nor JPEG 2000
        bdb + b"\x00",  # trailing byte (record length also wrong)
    ]
    for record in bad_records:
        with pytest.raises(ParseError, match="DG2"):
            parse_dg2(_rebuild_bdb(good, record))
    with pytest.raises(ParseError, match="instance count"):
        parse_dg2(tlv.encode(0x75, tlv.encode(0x7F61, tlv.encode(0x02, b"\x02"))))
    with pytest.raises(UsageError):
        encode_dg2(b"", width=1, height=1)


# --- DG11 -------------------------------------------------------------------------------------------


def test_dg11_round_trip_with_chinese_name() -> None:
    details = Dg11(
        full_name=full_name_field("欧阳", "晓 明"),
        other_names=("OUYANG<<XIAOMING",),
        personal_number="11010519491231002X",
        date_of_birth=datetime.date(1949, 12, 31),
        place_of_birth="北京市朝阳区",
        address="北京市朝阳区建国路88号",
        telephone="+86 10 1234 5678",
        other=((0x5F1A, b"\x01\x02"),),
    )
    data = encode_dg11(details)
    parsed = parse_dg11(data)
    assert parsed == details
    assert parsed.full_name == "欧阳<<晓<明"
    assert parsed.name_parts == ("欧阳", "晓 明")
    tag_list = tlv.decode_single(data, 0x6B).child(0x5C).value
    assert tag_list.startswith(b"\x5f\x0e\xa0\x5f\x10\x5f\x2b")
    assert "1949" not in repr(parsed) and "110105************" in repr(parsed)


def test_dg11_bcd_date_and_bare_other_name() -> None:
    data = tlv.encode(
        0x6B,
        [
            tlv.encode(0x5C, b"\x5f\x2b\x5f\x0f"),
            tlv.encode(0x5F2B, bytes.fromhex("19491231")),
            tlv.encode(0x5F0F, "别名".encode()),
        ],
    )
    parsed = parse_dg11(data)
    assert parsed.date_of_birth == datetime.date(1949, 12, 31)
    assert parsed.other_names == ("别名",)
    assert parsed.name_parts is None


@pytest.mark.parametrize(
    "children",
    [
        [tlv.encode(0x5F0E, b"x")],  # no tag list
        [tlv.encode(0x5C, b""), tlv.encode(0x5F0E, b"\xff\xfe")],  # not UTF-8
        [tlv.encode(0x5C, b""), tlv.encode(0x5F2B, b"19491331")],  # month 13
        [tlv.encode(0x5C, b""), tlv.encode(0x5F2B, b"1949")],  # too short
        [tlv.encode(0x5C, b""), tlv.encode(0x5F2B, bytes.fromhex("1949AB31"))],  # not BCD
        [tlv.encode(0x5C, b""), tlv.encode(0x5F10, b"1"), tlv.encode(0x5F10, b"2")],  # repeated
        [tlv.encode(0x5C, b""), tlv.encode(0xA0, tlv.encode(0x02, b"\x02") + tlv.encode(0x5F0F, b"a"))],
    ],
)
def test_dg11_malformed(children: list[bytes]) -> None:
    with pytest.raises(ParseError, match="DG11"):
        parse_dg11(tlv.encode(0x6B, children))


# --- DG14 / DG15 ------------------------------------------------------------------------------------


def test_dg14_round_trip() -> None:
    infos = SecurityInfos(
        pace=(PaceInfo(ID_PACE_ECDH_GM_AES_CBC_CMAC_128, 2, 13),),
        active_authentication=ActiveAuthenticationInfo(ECDSA_PLAIN_SHA256),
    )
    data = encode_dg14(infos)
    assert data[0] == 0x6E
    assert parse_dg14(data) == infos
    with pytest.raises(ParseError, match="DG14"):
        parse_dg14(tlv.encode(0x6E, b"\x31\x03\x02\x01\x00"))


def test_dg15_round_trip_and_errors() -> None:
    key = ec.derive_private_key(12345, ec.BrainpoolP256R1()).public_key()
    spki = key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    data = encode_dg15(key)
    assert data == encode_dg15(spki)
    dg15 = parse_dg15(data)
    assert dg15.public_key_info == spki
    assert dg15.public_key() == key
    with pytest.raises(ParseError, match="DG15"):
        parse_dg15(tlv.encode(0x6F, b"\x30\x03\x02\x01\x00"))
    with pytest.raises(ParseError, match="DG15"):
        parse_dg15(tlv.encode(0x6F, spki[:-1] + bytes([spki[-1] ^ 1])))  # point off the curve
    with pytest.raises(UsageError):
        encode_dg15("key")  # type: ignore[arg-type]
