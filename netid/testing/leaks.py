"""Privacy audits: find personal values in what a party received, however it was encoded.

A personal number inside a JWT is base64url; inside a request URI it is also URL-encoded; inside an
SD-JWT disclosure it is base64url of JSON. :func:`expand` decodes all of that (recursively, bounded) so a
plain substring search means something, and :func:`personal_value_forms` lists the forms a value can take
(a birth date as ``1990-03-07``, ``19900307``, ``900307``, ``1990年3月7日``, a Unix time …).

The privacy tests (``specs/protocol.md`` §8) use this, ``make demo`` runs it over everything the relying
party saw, and an RP can run it over its own logs.

>>> import base64, json
>>> token = base64.urlsafe_b64encode(json.dumps({"n": "11010519491231002X"}).encode()).decode().rstrip("=")
>>> find_values([f"https://rp.example/cb?vp_token=x.{token}.y"], {"number": "11010519491231002X"})
['number']
"""

from __future__ import annotations

import binascii
import contextlib
import datetime
import json
import re
import urllib.parse
from collections.abc import Iterable, Mapping

_SEPARATORS = re.compile(r"[~.&=?\"',\s:;/\\\[\]{}]+")
_B64URL = re.compile(r"^[A-Za-z0-9_-]+$")


def _b64url(piece: str) -> str | None:
    if len(piece) < 4 or not _B64URL.match(piece):
        return None
    try:
        return binascii.a2b_base64(
            piece.replace("-", "+").replace("_", "/") + "=" * (-len(piece) % 4)
        ).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError, ValueError):
        return None


def expand(texts: Iterable[str], *, depth: int = 4) -> str:
    """All of ``texts`` plus everything decodable inside them (URL-encoding, base64url segments, JSON
    re-serialised without ASCII escapes), ``depth`` levels deep, joined by newlines."""
    seen: set[str] = set()
    out: list[str] = []
    frontier = list(texts)
    for _ in range(depth + 1):
        found: list[str] = []
        for text in frontier:
            for form in (text, urllib.parse.unquote(text)):
                if form in seen:
                    continue
                seen.add(form)
                out.append(form)
                with contextlib.suppress(ValueError):
                    found.append(json.dumps(json.loads(form), ensure_ascii=False))
                for piece in _SEPARATORS.split(form):
                    decoded = _b64url(piece)
                    if decoded is not None and decoded not in seen:
                        found.append(decoded)
        frontier = found
        if not frontier:
            break
    return "\n".join(out)


def date_forms(day: datetime.date) -> list[str]:
    """The ways a date shows up in data: ISO, compact, MRZ, Chinese, Unix time at UTC midnight."""
    return [
        day.isoformat(),
        day.strftime("%Y%m%d"),
        day.strftime("%y%m%d"),
        day.strftime("%Y/%m/%d"),
        day.strftime("%d.%m.%Y"),
        day.strftime("%d/%m/%Y"),
        f"{day.year}年{day.month}月{day.day}日",
        day.strftime("%Y年%m月%d日"),
        str(int(datetime.datetime(day.year, day.month, day.day, tzinfo=datetime.UTC).timestamp())),
    ]


def personal_value_forms(
    *,
    personal_number: str | None = None,
    date_of_birth: datetime.date | None = None,
    full_name: str | None = None,
) -> dict[str, str]:
    """Label → value for everything that identifies the person (labels are safe to print)."""
    forms: dict[str, str] = {}
    if personal_number:
        forms["personal number"] = personal_number
        forms["personal number without check character"] = personal_number[:17]
        if len(personal_number) == 18:
            forms["birth date digits of the personal number"] = personal_number[6:14]
    if date_of_birth is not None:
        for i, text in enumerate(date_forms(date_of_birth)):
            forms[f"birth date (form {i + 1})"] = text
    if full_name:
        forms["full name"] = full_name
    return forms


def find_values(texts: Iterable[str], values: Mapping[str, str]) -> list[str]:
    """The labels of ``values`` that occur anywhere in ``texts`` once decoded (never the values)."""
    haystack = expand(texts)
    return [label for label, value in values.items() if value and value in haystack]
