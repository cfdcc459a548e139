"""Test kit: mint realistic simulated ID cards — persons, a test PKI, chip images — and break them.

**TEST ONLY.** Every key here is derived from a public seed or generated without protection, and every
certificate says ``O=NetID TEST ONLY`` in its subject. Never trust this PKI outside tests.

Determinism: the same seed (and ``today``) gives the same person, the same EC keys (private scalars are
derived from a hash of the seed) and, since ECDSA signing is deterministic (RFC 6979), the same
certificates and EF.SOD. RSA keys cannot be derived from a seed with the ``cryptography`` API and RSA key
generation is slow, so RSA keys are generated randomly once per process and cached by
``(seed, size, role)`` with :func:`functools.cache`: stable within a test session, different across runs.
RSASSA-PSS signatures are randomised by their salt.

Typical use::

    card = make_card(seed=7, age=19)
    card.image            # ChipImage for the simulator
    card.access_key       # MrzAccessKey (BAC / PACE with the MRZ)
    card.trust_store      # CscaTrustStore with the test CSCA
"""

from __future__ import annotations

import dataclasses
import datetime
import functools
import hashlib
import random
from dataclasses import dataclass
from importlib import resources
from typing import ClassVar

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.x509.oid import NameOID

from netid.card.icao.aa import AAPrivateKey
from netid.card.icao.access import CanAccessKey, MrzAccessKey
from netid.card.icao.lds import FID_CARD_ACCESS, FID_COM, FID_DG, FID_SOD
from netid.card.icao.lds.com import encode_com
from netid.card.icao.lds.dg1 import encode_dg1
from netid.card.icao.lds.dg2 import encode_dg2
from netid.card.icao.lds.dg11 import Dg11, encode_dg11
from netid.card.icao.lds.dg14 import encode_dg14
from netid.card.icao.lds.dg15 import encode_dg15
from netid.card.icao.lds.sod import encode_sod, hash_data_group
from netid.card.icao.mrz import encode_td1
from netid.card.icao.passive_auth import CscaTrustStore
from netid.card.icao.security_infos import (
    ECDSA_PLAIN_SHA256,
    ECDSA_PLAIN_SHA384,
    ECDSA_PLAIN_SHA512,
    ID_PACE_ECDH_GM_AES_CBC_CMAC_128,
    ActiveAuthenticationInfo,
    PaceInfo,
    SecurityInfos,
    encode_security_infos,
)
from netid.card.simulator import SimulatedCard, SimulatorReader
from netid.card.simulator.image import ChipImage
from netid.errors import UsageError
from netid.personal_number import age_on, mask_personal_number, personal_number_check_char

__all__ = [
    "CSCA_VALIDITY",
    "DS_VALIDITY",
    "GIVEN_NAME_CHARS",
    "PORTRAIT_SIZE",
    "REGIONS",
    "SURNAMES",
    "TEST_ONLY_ORGANIZATION",
    "Person",
    "TestCard",
    "TestPki",
    "clone_chip",
    "make_card",
    "make_chip",
    "make_mixed_pki",
    "make_person",
    "make_pki",
    "synthetic_portrait",
    "tamper_file",
]

TEST_ONLY_ORGANIZATION = "NetID TEST ONLY"

# --- reference tables (real codes and common names; the persons are fictitious) ---------------------

#: county-level administrative division codes (GB/T 2260): code → (province, city, county)
REGIONS: dict[str, tuple[str, str, str]] = {
    "110101": ("北京市", "北京市", "东城区"),
    "110105": ("北京市", "北京市", "朝阳区"),
    "310104": ("上海市", "上海市", "徐汇区"),
    "310115": ("上海市", "上海市", "浦东新区"),
    "320102": ("江苏省", "南京市", "玄武区"),
    "330106": ("浙江省", "杭州市", "西湖区"),
    "370202": ("山东省", "青岛市", "市南区"),
    "420106": ("湖北省", "武汉市", "武昌区"),
    "440106": ("广东省", "广州市", "天河区"),
    "440305": ("广东省", "深圳市", "南山区"),
    "510107": ("四川省", "成都市", "武侯区"),
    "610113": ("陕西省", "西安市", "雁塔区"),
}

#: surname → pinyin as written in the MRZ (GB/T 28039: syllables joined, uppercase)
SURNAMES: dict[str, str] = {
    "王": "WANG", "李": "LI", "张": "ZHANG", "刘": "LIU", "陈": "CHEN", "杨": "YANG", "黄": "HUANG",
    "赵": "ZHAO", "吴": "WU", "周": "ZHOU", "徐": "XU", "孙": "SUN", "马": "MA", "朱": "ZHU", "胡": "HU",
    "郭": "GUO", "何": "HE", "林": "LIN", "罗": "LUO", "高": "GAO", "欧阳": "OUYANG", "司马": "SIMA",
}  # fmt: skip

#: characters used in given names → pinyin
GIVEN_NAME_CHARS: dict[str, str] = {
    "伟": "WEI", "芳": "FANG", "娜": "NA", "敏": "MIN", "静": "JING", "丽": "LI", "强": "QIANG",
    "磊": "LEI", "军": "JUN", "洋": "YANG", "勇": "YONG", "艳": "YAN", "杰": "JIE", "涛": "TAO",
    "明": "MING", "超": "CHAO", "秀": "XIU", "英": "YING", "华": "HUA", "平": "PING", "刚": "GANG",
    "兰": "LAN", "玉": "YU", "海": "HAI", "燕": "YAN", "建": "JIAN", "国": "GUO", "文": "WEN",
    "晓": "XIAO", "东": "DONG", "雪": "XUE", "梅": "MEI", "鹏": "PENG", "婷": "TING", "宇": "YU",
    "浩": "HAO", "子": "ZI", "涵": "HAN", "欣": "XIN", "怡": "YI", "睿": "RUI", "思": "SI",
}  # fmt: skip

_STREETS = ("建国路", "人民路", "中山路", "解放路", "长安街", "和平路", "新华路", "文化路")

# --- persons ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Person:
    """A fictitious Chinese citizen. Names in Chinese characters and as their MRZ transliteration."""

    surname: str  #: 张
    given_names: str  #: 晓明
    surname_latin: str  #: ZHANG
    given_names_latin: str  #: XIAOMING
    personal_number: str  #: 18 characters, valid MOD 11-2 check character
    date_of_birth: datetime.date
    sex: str  #: "M" or "F" (the sequence code's parity agrees)
    document_number: str  #: 9 MRZ characters
    date_of_issue: datetime.date
    date_of_expiry: datetime.date
    can: str  #: 6-digit card access number
    place_of_birth: str
    address: str
    nationality: str = "CHN"

    @property
    def full_name(self) -> str:
        return self.surname + self.given_names

    @property
    def region_code(self) -> str:
        return self.personal_number[:6]

    @property
    def access_key(self) -> MrzAccessKey:
        return MrzAccessKey(
            self.document_number,
            self.date_of_birth.strftime("%y%m%d"),
            self.date_of_expiry.strftime("%y%m%d"),
        )

    def age_on(self, day: datetime.date) -> int:
        """Age in whole years on ``day``."""
        return age_on(self.date_of_birth, day)

    def mrz(self) -> str:
        """The TD1 MRZ printed on the card (3 lines joined by newlines)."""
        return encode_td1(
            document_code="ID",
            issuing_state="CHN",
            document_number=self.document_number,
            date_of_birth=self.date_of_birth.strftime("%y%m%d"),
            sex=self.sex,
            date_of_expiry=self.date_of_expiry.strftime("%y%m%d"),
            nationality=self.nationality,
            surname=self.surname_latin,
            given_names=self.given_names_latin,
        )

    def __repr__(self) -> str:  # test persons are fictitious, but keep the habit: no numbers in logs
        return f"Person(personal_number={mask_personal_number(self.personal_number)!r}, sex={self.sex!r})"


def _add_years(day: datetime.date, years: int) -> datetime.date:
    try:
        return day.replace(year=day.year + years)
    except ValueError:  # 29 February
        return day.replace(year=day.year + years, day=28)


def _validity_years(age_at_issue: int) -> int:
    # Resident ID card rule (居民身份证法 art. 5): under 16 → 5 years, 16-25 → 10, 26-45 → 20; "long
    # term" after 46 cannot be written in an MRZ, so the test kit uses 20 years there too
    if age_at_issue < 16:
        return 5
    if age_at_issue <= 25:
        return 10
    return 20


def make_person(
    seed: int,
    *,
    age: int | None = None,
    today: datetime.date | None = None,
    sex: str | None = None,
    region_code: str | None = None,
) -> Person:
    """A deterministic fictitious person for ``seed`` (and ``today``, default the real date).

    ``age`` fixes the age in whole years on ``today`` (default: 18-70, drawn from the seed).
    """
    today = today or datetime.date.today()
    rng = random.Random(f"netid-testkit-person|{seed}")  # noqa: S311 - reproducible test data, not secrets
    surname = rng.choice(sorted(SURNAMES))
    given = "".join(rng.choice(sorted(GIVEN_NAME_CHARS)) for _ in range(rng.choice((1, 2, 2))))
    if age is None:
        age = rng.randint(18, 70)
    if not 0 <= age <= 120:
        raise UsageError("age must be 0-120")
    # born in the 365/366 days that make the person exactly `age` today
    latest = _add_years(today, -age)
    earliest = _add_years(today, -age - 1) + datetime.timedelta(days=1)
    birth = earliest + datetime.timedelta(days=rng.randint(0, (latest - earliest).days))
    sex = sex or rng.choice("MF")
    if sex not in ("M", "F"):
        raise UsageError("sex must be 'M' or 'F'")
    region = region_code or rng.choice(sorted(REGIONS))
    if region not in REGIONS:
        raise UsageError("region code must be one of REGIONS")
    last = rng.choice("13579" if sex == "M" else "02468")
    first17 = region + birth.strftime("%Y%m%d") + f"{rng.randint(0, 99):02d}" + last
    number = first17 + personal_number_check_char(first17)
    # issued 1 month to 3 years ago, but never before birth
    issue = max(birth, today - datetime.timedelta(days=rng.randint(30, 3 * 365)))
    expiry = _add_years(issue, _validity_years(age_on(birth, issue)))
    letter = rng.choice("ABCDEFGHJKLMNPQRSTUVWXYZ")
    province, city, county = REGIONS[region]
    return Person(
        surname=surname,
        given_names=given,
        surname_latin=SURNAMES[surname],
        given_names_latin="".join(GIVEN_NAME_CHARS[c] for c in given),
        personal_number=number,
        date_of_birth=birth,
        sex=sex,
        document_number=f"{letter}{rng.randint(0, 10**8 - 1):08d}",
        date_of_issue=issue,
        date_of_expiry=expiry,
        can=f"{rng.randint(0, 999_999):06d}",
        place_of_birth=f"{province}{city}" if province == city else f"{province}{city}{county}",
        address=f"{province}{'' if province == city else city}{county}"
        f"{rng.choice(_STREETS)}{rng.randint(1, 300)}号",
    )


# --- keys ------------------------------------------------------------------------------------------------

_CURVES: dict[str, ec.EllipticCurve] = {
    "p256": ec.SECP256R1(),
    "p384": ec.SECP384R1(),
    "p521": ec.SECP521R1(),
    "brainpool256": ec.BrainpoolP256R1(),
    "brainpool384": ec.BrainpoolP384R1(),
    "brainpool512": ec.BrainpoolP512R1(),
    "secp256k1": ec.SECP256K1(),  # not in the passive-authentication allow-list: for negative tests
}
_CURVE_HASH = {"p256": "sha256", "p384": "sha384", "p521": "sha512", "brainpool256": "sha256",
               "brainpool384": "sha384", "brainpool512": "sha512", "secp256k1": "sha256"}  # fmt: skip


def _ec_key(curve: ec.EllipticCurve, label: str) -> ec.EllipticCurvePrivateKey:
    """A TEST ONLY EC key whose private scalar is a hash of ``label``.

    The scalar has ``key_size - 8`` bits, below the group order of every curve used here, and is
    non-zero; that is all a test key needs."""
    bits = curve.key_size - 8
    digest = hashlib.shake_256(f"netid-testkit-key|{label}".encode()).digest((bits + 7) // 8)
    scalar = (int.from_bytes(digest, "big") >> ((len(digest) * 8) - bits)) | 1
    return ec.derive_private_key(scalar, curve)


@functools.cache
def _rsa_key(bits: int, label: str) -> rsa.RSAPrivateKey:
    """A TEST ONLY RSA key, generated once per process per label (RSA keys cannot be seeded)."""
    return rsa.generate_private_key(public_exponent=65537, key_size=bits)


def _parse_algorithm(algorithm: str) -> tuple[str, str | int]:
    """``"ecdsa-p256"`` → ("ecdsa", "p256"); ``"rsa-2048"`` → ("rsa", 2048); ``"rsa-pss-2048"``."""
    kind, _, rest = algorithm.partition("-")
    if kind == "ecdsa" and rest in _CURVES:
        return "ecdsa", rest
    if kind == "rsa":
        pss, _, size = rest.rpartition("-")
        if pss in ("", "pss") and size.isdigit() and int(size) in (1024, 2048, 3072, 4096):
            return ("rsa-pss" if pss else "rsa"), int(size)
    raise UsageError(
        f"unknown algorithm {algorithm!r}; use ecdsa-{{{','.join(_CURVES)}}}, rsa-<bits> or rsa-pss-<bits>"
    )


def _private_key(algorithm: str, label: str) -> ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey:
    kind, param = _parse_algorithm(algorithm)
    if kind == "ecdsa":
        return _ec_key(_CURVES[str(param)], f"{algorithm}|{label}")
    return _rsa_key(int(param), label)


# --- PKI -------------------------------------------------------------------------------------------------

#: fixed so certificates are deterministic; wide enough for documents issued around now
CSCA_VALIDITY = (
    datetime.datetime(2020, 1, 1, tzinfo=datetime.UTC),
    datetime.datetime(2045, 12, 31, 23, 59, 59, tzinfo=datetime.UTC),
)
DS_VALIDITY = (
    datetime.datetime(2024, 1, 1, tzinfo=datetime.UTC),
    datetime.datetime(2037, 12, 31, 23, 59, 59, tzinfo=datetime.UTC),
)


@dataclass(frozen=True)
class TestPki:
    """A TEST ONLY country signing CA and one Document Signer it issued."""

    __test__: ClassVar[bool] = False  # not a pytest test class

    algorithm: str
    hash_algorithm: str  #: for certificate and SOD signatures and DG hashes
    rsa_pss: bool
    csca_key: ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey
    csca_certificate: x509.Certificate
    ds_key: ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey
    ds_certificate: x509.Certificate

    def trust_store(self) -> CscaTrustStore:
        return CscaTrustStore([self.csca_certificate])

    def __repr__(self) -> str:
        return f"TestPki(algorithm={self.algorithm!r}, TEST ONLY)"


def _name(role: str, seed: int) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.COUNTRY_NAME, "CN"),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, TEST_ONLY_ORGANIZATION),
            x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, role),
            x509.NameAttribute(NameOID.COMMON_NAME, f"NetID TEST ONLY {role} {seed}"),
        ]
    )


def _serial(label: str) -> int:
    return int.from_bytes(hashlib.sha256(label.encode()).digest()[:8], "big") >> 1 | 1


_CERT_HASHES: dict[str, type[hashes.SHA256 | hashes.SHA384 | hashes.SHA512 | hashes.SHA224]] = {
    "sha224": hashes.SHA224,
    "sha256": hashes.SHA256,
    "sha384": hashes.SHA384,
    "sha512": hashes.SHA512,
}


def _sign_certificate(
    builder: x509.CertificateBuilder,
    key: ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey,
    hash_name: str,
    pss: bool,
) -> x509.Certificate:
    hash_alg = _CERT_HASHES[hash_name]()
    if isinstance(key, ec.EllipticCurvePrivateKey):
        return builder.sign(key, hash_alg, ecdsa_deterministic=True)
    rsa_padding = padding.PSS(mgf=padding.MGF1(hash_alg), salt_length=hash_alg.digest_size) if pss else None
    return builder.sign(key, hash_alg, rsa_padding=rsa_padding)


@functools.cache
def _make_pki(
    seed: int,
    algorithm: str,
    ds_validity: tuple[datetime.datetime, datetime.datetime],
    csca_validity: tuple[datetime.datetime, datetime.datetime],
    hash_algorithm: str | None,
) -> TestPki:
    kind, param = _parse_algorithm(algorithm)
    hash_name = hash_algorithm or (_CURVE_HASH[str(param)] if kind == "ecdsa" else "sha256")
    pss = kind == "rsa-pss"
    csca_key = _private_key(algorithm, f"csca|{seed}")
    ds_key = _private_key(algorithm, f"ds|{seed}")
    csca_name = _name("Country Signing CA", seed)
    csca_ski = x509.SubjectKeyIdentifier.from_public_key(csca_key.public_key())
    csca = _sign_certificate(
        x509.CertificateBuilder()
        .subject_name(csca_name)
        .issuer_name(csca_name)
        .public_key(csca_key.public_key())
        .serial_number(_serial(f"csca|{seed}|{algorithm}"))
        .not_valid_before(csca_validity[0])
        .not_valid_after(csca_validity[1])
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=False, content_commitment=False, key_encipherment=False,
                data_encipherment=False, key_agreement=False, key_cert_sign=True, crl_sign=True,
                encipher_only=False, decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(csca_ski, critical=False),
        csca_key,
        hash_name,
        pss,
    )  # fmt: skip
    ds = _sign_certificate(
        x509.CertificateBuilder()
        .subject_name(_name("Document Signer", seed))
        .issuer_name(csca_name)
        .public_key(ds_key.public_key())
        .serial_number(_serial(f"ds|{seed}|{algorithm}"))
        .not_valid_before(ds_validity[0])
        .not_valid_after(ds_validity[1])
        .add_extension(
            x509.KeyUsage(
                digital_signature=True, content_commitment=False, key_encipherment=False,
                data_encipherment=False, key_agreement=False, key_cert_sign=False, crl_sign=False,
                encipher_only=False, decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(csca_ski), critical=False
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ds_key.public_key()), critical=False),
        csca_key,
        hash_name,
        pss,
    )  # fmt: skip
    return TestPki(algorithm, hash_name, pss, csca_key, csca, ds_key, ds)


def make_pki(
    seed: int = 0,
    algorithm: str = "ecdsa-p256",
    *,
    ds_not_valid_before: datetime.datetime | None = None,
    ds_not_valid_after: datetime.datetime | None = None,
    csca_not_valid_after: datetime.datetime | None = None,
    hash_algorithm: str | None = None,
) -> TestPki:
    """A TEST ONLY CSCA + Document Signer, cached per arguments.

    ``algorithm``: ``ecdsa-p256`` (default), ``ecdsa-p384``, ``ecdsa-p521``, ``ecdsa-brainpool256``,
    ``ecdsa-brainpool384``, ``ecdsa-brainpool512``, ``rsa-2048``/``3072``/``4096``,
    ``rsa-pss-2048``/..., and — outside the passive-authentication allow-list, for negative tests —
    ``ecdsa-secp256k1`` and ``rsa-1024``. The hash follows the curve size (SHA-256 for RSA) unless
    ``hash_algorithm`` is given. Validity windows default to :data:`CSCA_VALIDITY` and :data:`DS_VALIDITY`.
    """
    _parse_algorithm(algorithm)
    if hash_algorithm is not None and hash_algorithm not in _CERT_HASHES:
        raise UsageError(f"unknown hash algorithm {hash_algorithm!r}")
    ds_validity = (ds_not_valid_before or DS_VALIDITY[0], ds_not_valid_after or DS_VALIDITY[1])
    csca_validity = (CSCA_VALIDITY[0], csca_not_valid_after or CSCA_VALIDITY[1])
    return _make_pki(seed, algorithm, ds_validity, csca_validity, hash_algorithm)


# --- mixed chains (TEST ONLY) ------------------------------------------------------------------------------


@functools.cache
def _make_mixed_pki(
    seed: int,
    csca_algorithm: str,
    ds_algorithm: str,
    *,
    certificate_hash: str,
    certificate_mgf_hash: str | None,
    sod_hash: str,
) -> TestPki:
    csca_kind, _ = _parse_algorithm(csca_algorithm)
    ds_kind, _ = _parse_algorithm(ds_algorithm)
    csca_key = _private_key(csca_algorithm, f"mixed-csca|{seed}")
    ds_key = _private_key(ds_algorithm, f"mixed-ds|{seed}")
    csca_name = _name(f"Mixed CSCA {csca_algorithm}", seed)  # at most 64 characters in a CN
    csca_ski = x509.SubjectKeyIdentifier.from_public_key(csca_key.public_key())
    csca = _sign_certificate(
        x509.CertificateBuilder()
        .subject_name(csca_name)
        .issuer_name(csca_name)
        .public_key(csca_key.public_key())
        .serial_number(_serial(f"mixed-csca|{seed}|{csca_algorithm}"))
        .not_valid_before(CSCA_VALIDITY[0])
        .not_valid_after(CSCA_VALIDITY[1])
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(csca_ski, critical=False),
        csca_key,
        "sha256",  # the CSCA's self-signature is not what these chains test
        csca_kind == "rsa-pss",
    )
    builder = (
        x509.CertificateBuilder()
        .subject_name(_name(f"Mixed DS {ds_algorithm}", seed))
        .issuer_name(csca_name)
        .public_key(ds_key.public_key())
        .serial_number(_serial(f"mixed-ds|{seed}|{ds_algorithm}|{certificate_hash}|{certificate_mgf_hash}"))
        .not_valid_before(DS_VALIDITY[0])
        .not_valid_after(DS_VALIDITY[1])
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(csca_ski), critical=False
        )
    )
    if certificate_mgf_hash is None:
        ds = _sign_certificate(builder, csca_key, certificate_hash, csca_kind == "rsa-pss")
    else:
        if not isinstance(csca_key, rsa.RSAPrivateKey):
            raise UsageError("certificate_mgf_hash needs an RSA CSCA")
        hash_alg = _CERT_HASHES[certificate_hash]()
        mgf = padding.MGF1(_CERT_HASHES[certificate_mgf_hash]())
        ds = builder.sign(
            csca_key, hash_alg, rsa_padding=padding.PSS(mgf=mgf, salt_length=hash_alg.digest_size)
        )
    return TestPki(
        f"{csca_algorithm}/{ds_algorithm}", sod_hash, ds_kind == "rsa-pss", csca_key, csca, ds_key, ds
    )


def make_mixed_pki(
    seed: int = 0,
    *,
    csca_algorithm: str = "ecdsa-p256",
    ds_algorithm: str = "ecdsa-p256",
    certificate_hash: str = "sha256",
    certificate_mgf_hash: str | None = None,
    sod_hash: str = "sha256",
) -> TestPki:
    """A TEST ONLY PKI with one weak link in an otherwise strong chain, for the algorithm-policy tests.

    :func:`make_pki` makes every link equally strong or equally weak, so a policy check can hide behind
    another that fails first. Here the CSCA (``csca_algorithm``, self-signed with SHA-256) and the
    Document Signer (``ds_algorithm``) are chosen apart; ``certificate_hash`` is the hash the CSCA signs
    the DS certificate with (``"sha224"`` is outside the allow-list), ``certificate_mgf_hash`` makes that
    signature RSASSA-PSS with another MGF1 hash (RSA CSCAs only), and ``sod_hash`` is what
    :func:`make_chip` hashes and signs EF.SOD with (pass ``hash_algorithm`` to it for weaker DG hashes
    under this signature). Names say ``Mixed`` and the algorithm, so these CSCAs never match
    :func:`make_pki`'s; one seed and ``csca_algorithm`` always give the same CSCA name and key.
    """
    for name in (certificate_hash, certificate_mgf_hash or certificate_hash):
        if name not in _CERT_HASHES:
            raise UsageError(f"unknown certificate hash {name!r}")
    if sod_hash not in ("sha1", *_CERT_HASHES):
        raise UsageError(f"unknown hash algorithm {sod_hash!r}")
    return _make_mixed_pki(
        seed,
        csca_algorithm,
        ds_algorithm,
        certificate_hash=certificate_hash,
        certificate_mgf_hash=certificate_mgf_hash,
        sod_hash=sod_hash,
    )


# --- chips -----------------------------------------------------------------------------------------------

PORTRAIT_SIZE = (240, 320)  #: width and height of the committed synthetic portrait


@functools.cache
def _base_portrait() -> bytes:
    return resources.files("netid.testing").joinpath("data/portrait.jpg").read_bytes()


def synthetic_portrait(size: int = 15_000, *, label: str = "") -> bytes:
    """The synthetic test portrait (a drawn figure, no real person) padded to about ``size`` bytes with
    JPEG comment segments, which every decoder skips. ``label`` varies the padding per card."""
    base = _base_portrait()
    pad = size - len(base)
    segments: list[bytes] = []
    note = f"NetID synthetic test portrait - TEST ONLY - {label} ".encode()
    while pad > 4:
        body_len = min(pad - 4, 0xFFFF - 2)
        body = (note * (body_len // len(note) + 1))[:body_len]
        segments.append(b"\xff\xfe" + (body_len + 2).to_bytes(2, "big") + body)
        pad -= body_len + 4
    return base[:2] + b"".join(segments) + base[2:]  # after SOI


_AA_OIDS = {
    256: ECDSA_PLAIN_SHA256,
    384: ECDSA_PLAIN_SHA384,
    521: ECDSA_PLAIN_SHA512,
    512: ECDSA_PLAIN_SHA512,
}


def _aa_key(aa: str, label: str) -> AAPrivateKey:
    kind, _ = _parse_algorithm(aa)
    if kind == "rsa-pss":
        raise UsageError("active authentication uses ecdsa-<curve> or rsa-<bits> (ISO 9796-2)")
    return _private_key(aa, f"aa|{label}")


def _aa_info(key: AAPrivateKey) -> ActiveAuthenticationInfo | None:
    if isinstance(key, ec.EllipticCurvePrivateKey):
        return ActiveAuthenticationInfo(_AA_OIDS.get(key.curve.key_size, ECDSA_PLAIN_SHA256))
    return None  # RSA active authentication names its hash in the signature's trailer instead


def make_chip(
    person: Person,
    pki: TestPki,
    *,
    pace_parameter_ids: tuple[int, ...] = (13,),
    bac: bool = True,
    aa: str | None = "ecdsa-p256",
    portrait_bytes: int | None = 15_000,
    extended_length: bool = True,
    can: str | None = None,
    hash_algorithm: str | None = None,
    sod_data_groups: tuple[int, ...] | None = None,
) -> ChipImage:
    """A chip image for ``person``, signed by ``pki``'s Document Signer. TEST ONLY.

    Files: EF.CardAccess (iff ``pace_parameter_ids``; PACE-ECDH-GM-AES-128, version 2), EF.COM, DG1
    (TD1 MRZ), DG2 (synthetic portrait of about ``portrait_bytes``; none if ``None``), DG11, DG14
    (PACEInfos and, for ECDSA active authentication, ActiveAuthenticationInfo; absent if neither),
    DG15 (iff ``aa``) and EF.SOD. ``hash_algorithm`` overrides the SOD's hash (e.g. ``"sha1"`` for a
    negative test); ``sod_data_groups`` lists only some data groups in the SOD (negative tests).
    """
    pace = tuple(PaceInfo(ID_PACE_ECDH_GM_AES_CBC_CMAC_128, 2, pid) for pid in pace_parameter_ids)
    label = f"{person.document_number}|{person.personal_number}"
    aa_key = _aa_key(aa, label) if aa is not None else None
    dgs: dict[int, bytes] = {1: encode_dg1(person.mrz())}
    if portrait_bytes is not None:
        image = synthetic_portrait(portrait_bytes, label=person.document_number)
        dgs[2] = encode_dg2(image, width=PORTRAIT_SIZE[0], height=PORTRAIT_SIZE[1])
    dgs[11] = encode_dg11(
        Dg11(
            full_name=f"{person.surname}<<{person.given_names}",
            personal_number=person.personal_number,
            date_of_birth=person.date_of_birth,
            place_of_birth=person.place_of_birth,
            address=person.address,
        )
    )
    aa_info = _aa_info(aa_key) if aa_key is not None else None
    if pace or aa_info is not None:
        dgs[14] = encode_dg14(SecurityInfos(pace=pace, active_authentication=aa_info))
    if aa_key is not None:
        dgs[15] = encode_dg15(aa_key.public_key())
    hash_name = hash_algorithm or pki.hash_algorithm
    listed = sorted(dgs) if sod_data_groups is None else sorted(sod_data_groups)
    sod = encode_sod(
        {n: hash_data_group(dgs[n], hash_name) for n in listed if n in dgs},
        signer_certificate=pki.ds_certificate,
        signer_key=pki.ds_key,
        hash_algorithm=hash_name,
        rsa_pss=pki.rsa_pss,
    )
    files: dict[int, bytes] = {}
    if pace:
        files[FID_CARD_ACCESS] = encode_security_infos(SecurityInfos(pace=pace))
    files[FID_COM] = encode_com(sorted(dgs))
    files.update({FID_DG[n]: data for n, data in dgs.items()})
    files[FID_SOD] = sod
    return ChipImage(
        files=files,
        mrz_information=person.access_key.mrz_information,
        can=can or person.can,
        aa_private_key=aa_key,
        bac_enabled=bac,
        extended_length=extended_length,
        labels={"testkit": "TEST ONLY", "pki": pki.algorithm, "aa": aa or "none"},
    )


# --- cards -----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class TestCard:
    """Everything a test needs about one simulated card. TEST ONLY."""

    __test__: ClassVar[bool] = False  # not a pytest test class

    person: Person
    pki: TestPki
    image: ChipImage
    access_key: MrzAccessKey
    can: CanAccessKey
    trust_store: CscaTrustStore

    @property
    def files(self) -> dict[int, bytes]:
        return dict(self.image.files)

    def __repr__(self) -> str:
        return f"TestCard({self.person!r}, {self.pki!r})"


def make_card(
    seed: int = 0,
    *,
    age: int | None = None,
    today: datetime.date | None = None,
    algorithm: str = "ecdsa-p256",
    pki_seed: int = 0,
    **chip_options: object,
) -> TestCard:
    """One call: a person from ``seed``, the test PKI (shared across cards: ``pki_seed``), a chip.

    ``chip_options`` go to :func:`make_chip` (``aa``, ``pace_parameter_ids``, ``bac``, ...).
    """
    person = make_person(seed, age=age, today=today)
    pki = make_pki(pki_seed, algorithm)
    image = make_chip(person, pki, **chip_options)  # type: ignore[arg-type]
    return TestCard(
        person=person,
        pki=pki,
        image=image,
        access_key=person.access_key,
        can=CanAccessKey(image.can or person.can),
        trust_store=pki.trust_store(),
    )


# --- faults ----------------------------------------------------------------------------------------------

_MRZ_BYTES = frozenset(b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ<")


def tamper_file(image: ChipImage, fid: int) -> ChipImage:
    """Change one byte of file ``fid`` so its TLV structure still parses but its hash no longer matches.

    The last byte of every LDS file lies inside its innermost, last primitive value (an MRZ character, a
    UTF-8 character, image data, a key byte), so changing it keeps every length intact. An MRZ character
    stays an MRZ character (``<`` → ``A``), a UTF-8 continuation byte stays one.
    """
    try:
        data = bytearray(image.files[fid])
    except KeyError:
        raise UsageError(f"file {fid:04X} is not on this chip") from None
    if not data:
        raise UsageError("empty file")
    b = data[-1]
    if b in _MRZ_BYTES:
        data[-1] = ord("A") if b != ord("A") else ord("B")
    else:
        data[-1] = b ^ 0x01
    return image.with_file(fid, bytes(data))


def clone_chip(image: ChipImage, seed: int = 1) -> ChipImage:
    """What a cloner produces: every file copied (DG15 and EF.SOD included, so passive authentication
    still passes) but a different active-authentication private key of the same kind, since the real one
    cannot be extracted. Active authentication against DG15 must then fail."""
    key = image.aa_private_key
    new_key: AAPrivateKey | None
    if key is None:
        new_key = None  # without active authentication a copy is indistinguishable
    elif isinstance(key, ec.EllipticCurvePrivateKey):
        new_key = _ec_key(key.curve, f"clone|{seed}|{key.curve.name}")
    else:
        new_key = _rsa_key(key.key_size, f"clone|{seed}")
    return dataclasses.replace(image, aa_private_key=new_key, labels={**image.labels, "clone": str(seed)})


def open_simulator_reader(seed_text: str) -> SimulatorReader:
    """The :func:`~netid.card.backends.registry.open_reader` factory for ``sim[:SEED[:FAULT]]`` and
    ``sim:SEED:age=N``: the simulator holding :func:`simulator_card` of the same spec (seed 0, no fault by
    default)."""
    card = simulator_card(seed_text)
    labels = card.image.labels
    detail = f"test card {labels['seed']}" + "".join(
        f", {text}" for text in (labels.get("fault"), labels.get("age") and f"age {labels['age']}") if text
    )
    return SimulatorReader(SimulatedCard(card.image), name=f"NetID simulator ({detail})")


#: the faults a ``sim:SEED:FAULT`` reader spec can ask for (``N`` is a data group number on the card)
SIMULATOR_FAULTS = ("tampered-dgN", "cloned")
#: what may follow ``sim:SEED:`` besides a fault: the holder's age today (a minor, for guardian tests)
SIMULATOR_OPTIONS = (*SIMULATOR_FAULTS, "age=N")


def simulator_card(spec: str) -> TestCard:
    """The TEST card behind the simulator reader spec ``SEED[:FAULT]`` or ``SEED:age=N`` (what follows
    ``sim:``).

    ``SEED`` picks :func:`make_card` ``(SEED)`` (0 when empty). ``FAULT`` makes it a card that must fail
    verification, for testing what a program does with one: ``tampered-dgN`` changes one byte of data
    group N (:func:`tamper_file`: passive authentication fails on DGN's hash), ``cloned`` copies every
    file to a chip with another active-authentication key (:func:`clone_chip`: active authentication
    fails). The person, PKI and access key stay those of the seed. ``age=N`` instead gives the seed's
    person a birth date that makes them ``N`` years old today (0 to 120): a minor's card, for testing
    enrollment with a guardian. Raises :class:`UsageError` otherwise.
    """
    seed_text, _, fault = spec.strip().partition(":")
    try:
        seed = int(seed_text) if seed_text else 0
    except ValueError:
        raise UsageError(f"sim:SEED needs a number, got {seed_text!r}") from None
    fault = fault.lower()
    age_text = fault.removeprefix("age=") if fault.startswith("age=") else None
    if age_text is not None and not (age_text.isdigit() and len(age_text) <= 3 and int(age_text) <= 120):
        raise UsageError(f"sim:SEED:age=N needs a whole number of years from 0 to 120, got {age_text!r}")
    card = make_card(seed, age=int(age_text) if age_text is not None else None)
    labels = {"seed": str(seed)}
    if age_text is not None:
        labels["age"] = age_text
        fault = ""
    if not fault:
        image = card.image
    elif fault == "cloned":
        image = clone_chip(card.image)
        labels["fault"] = "cloned chip"
    elif fault.startswith("tampered-dg") and fault[len("tampered-dg") :].isdigit():
        number = int(fault[len("tampered-dg") :])
        fid = FID_DG.get(number)
        if fid is None or fid not in card.image.files:
            present = ", ".join(f"dg{n}" for n, f in sorted(FID_DG.items()) if f in card.image.files)
            raise UsageError(f"the test card has no DG{number} to tamper with (it has {present})")
        image = tamper_file(card.image, fid)
        labels["fault"] = f"tampered DG{number}"
    else:
        raise UsageError(f"unknown simulator option {fault!r}; use one of: {', '.join(SIMULATOR_OPTIONS)}")
    return dataclasses.replace(card, image=dataclasses.replace(image, labels={**image.labels, **labels}))
