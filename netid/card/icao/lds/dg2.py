"""DG2 (ICAO 9303-10 §4.7.2): the encoded face, an ISO/IEC 19794-5 facial record wrapping a JPEG.

Structure::

    75 DG2
      7F61 biometric information group template
        02   number of instances
        7F60 biometric information template (one per instance)
          A1   biometric header template (ICAO header version, type = face, format owner/type)
          5F2E biometric data block: 19794-5 record 'FAC\\0' '010\\0' length count,
               facial information (20 bytes), feature points (8 bytes each), image information
               (12 bytes), image data

Parsing returns the image bytes and MIME type; it does not decode the image.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from netid.card import tlv
from netid.errors import ParseError, UsageError

__all__ = ["Dg2", "FaceImage", "encode_dg2", "parse_dg2"]

_WHAT = "DG2"
_TAG = 0x75
_TAG_GROUP = 0x7F61
_TAG_COUNT = 0x02
_TAG_BIT = 0x7F60
_TAG_HEADER = 0xA1
_TAG_BDB = 0x5F2E
_TAG_BDB_ENCIPHERED = 0x7F2E

_FAC = b"FAC\x00"
_VERSION = b"010\x00"
_RECORD_HEADER = 14  # 'FAC\0' + version + 4-byte record length + 2-byte count
_FACE_INFO = 20
_FEATURE_POINT = 8
_IMAGE_INFO = 12

#: 19794-5 image data type → MIME type
_MIME_BY_TYPE = {0: "image/jpeg", 1: "image/jp2"}
_TYPE_BY_MIME = {v: k for k, v in _MIME_BY_TYPE.items()}
_MAX_INSTANCES = 16


@dataclass(frozen=True, slots=True)
class FaceImage:
    """One face image: the encoded bytes as stored (JPEG or JPEG 2000) and what the record says."""

    image: bytes
    mime_type: str
    width: int
    height: int

    def __repr__(self) -> str:  # a face is personal data: never dump the bytes into a log
        return f"FaceImage(<{len(self.image)} bytes {self.mime_type}>, {self.width}x{self.height})"


@dataclass(frozen=True, slots=True)
class Dg2:
    faces: tuple[FaceImage, ...]

    @property
    def portrait(self) -> FaceImage:
        return self.faces[0]


def parse_dg2(data: bytes) -> Dg2:
    try:
        group = tlv.decode_single(data, _TAG).child(_TAG_GROUP)
        items = group.children()
        if not items or items[0].tag != _TAG_COUNT or len(items[0].value) != 1:
            raise ParseError(_WHAT, "biometric group lacks its instance count")
        count = items[0].value[0]
        templates = [t for t in items[1:] if t.tag == _TAG_BIT]
        if count == 0 or count > _MAX_INSTANCES or len(templates) != count:
            raise ParseError(_WHAT, "instance count does not match the templates present")
        faces: list[FaceImage] = []
        for template in templates:
            if template.find(_TAG_HEADER) is None:
                raise ParseError(_WHAT, "biometric header template missing")
            if template.find(_TAG_BDB_ENCIPHERED) is not None:
                raise ParseError(_WHAT, "enciphered biometric data is not supported")
            faces.extend(_parse_face_record(template.child(_TAG_BDB).value))
    except ParseError as exc:
        raise ParseError(_WHAT, exc.reason) from None
    return Dg2(tuple(faces))


def _parse_face_record(block: bytes) -> list[FaceImage]:
    if len(block) < _RECORD_HEADER or block[:4] != _FAC:
        raise ParseError(_WHAT, "biometric data block is not an ISO/IEC 19794-5 face record")
    if block[4:8] != _VERSION:
        raise ParseError(_WHAT, "unsupported face record version")
    record_length, count = struct.unpack_from(">IH", block, 8)
    if record_length != len(block):
        raise ParseError(_WHAT, "face record length does not match the data block")
    if count == 0 or count > _MAX_INSTANCES:
        raise ParseError(_WHAT, "face record holds no image")
    pos = _RECORD_HEADER
    faces: list[FaceImage] = []
    for _ in range(count):
        if len(block) - pos < _FACE_INFO:
            raise ParseError(_WHAT, "truncated facial information block")
        data_length, n_points = struct.unpack_from(">IH", block, pos)
        end = pos + data_length
        if data_length < _FACE_INFO + _IMAGE_INFO or end > len(block):
            raise ParseError(_WHAT, "facial record data length out of range")
        pos += _FACE_INFO + n_points * _FEATURE_POINT
        if end - pos < _IMAGE_INFO:
            raise ParseError(_WHAT, "feature points run past the facial record")
        _face_type, data_type, width, height = struct.unpack_from(">BBHH", block, pos)
        pos += _IMAGE_INFO
        if data_type not in _MIME_BY_TYPE:
            raise ParseError(_WHAT, "image data type is neither JPEG nor JPEG 2000")
        image = block[pos:end]
        if not image:
            raise ParseError(_WHAT, "empty image data")
        faces.append(FaceImage(bytes(image), _MIME_BY_TYPE[data_type], width, height))
        pos = end
    if pos != len(block):
        raise ParseError(_WHAT, "trailing bytes after the facial records")
    return faces


def _face_record(image: bytes, mime_type: str, width: int, height: int) -> bytes:
    if mime_type not in _TYPE_BY_MIME:
        raise UsageError("portrait must be image/jpeg or image/jp2")
    if not (0 <= width <= 0xFFFF and 0 <= height <= 0xFFFF):
        raise UsageError("image dimensions out of range")
    face_info = struct.pack(
        ">IHBBB3sH3s3s",
        _FACE_INFO + _IMAGE_INFO + len(image),
        0,  # feature points
        0,  # gender unspecified: the MRZ and DG11 carry it
        0,  # eye colour unspecified
        0,  # hair colour unspecified
        b"\x00\x00\x00",  # feature mask
        0,  # expression unspecified
        b"\x00\x00\x00",  # pose angles
        b"\x00\x00\x00",  # pose angle uncertainty
    )
    image_info = struct.pack(
        ">BBHHBBHH",
        1,  # face image type: full frontal
        _TYPE_BY_MIME[mime_type],
        width,
        height,
        1,  # colour space: 24-bit RGB
        2,  # source type: digital still camera
        0,  # device type unspecified
        0,  # quality unspecified
    )
    body = face_info + image_info + image
    return _FAC + _VERSION + struct.pack(">IH", _RECORD_HEADER + len(body), 1) + body


def encode_dg2(image: bytes, *, width: int, height: int, mime_type: str = "image/jpeg") -> bytes:
    """DG2 with one face image."""
    if not image:
        raise UsageError("empty image")
    header = tlv.encode(
        _TAG_HEADER,
        [
            tlv.encode(0x80, b"\x01\x01"),  # ICAO header version 1.1
            tlv.encode(0x81, b"\x02"),  # biometric type: facial features
            tlv.encode(0x82, b"\x00"),  # biometric subtype: none
            tlv.encode(0x87, b"\x01\x01"),  # format owner: ISO/IEC JTC 1/SC 37
            tlv.encode(0x88, b"\x00\x08"),  # format type: face image
        ],
    )
    template = tlv.encode(
        _TAG_BIT, [header, tlv.encode(_TAG_BDB, _face_record(image, mime_type, width, height))]
    )
    return tlv.encode(_TAG, tlv.encode(_TAG_GROUP, [tlv.encode(_TAG_COUNT, b"\x01"), template]))
