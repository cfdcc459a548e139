"""The one canonical form of a person's name, so that "is this their real name?" compares like with like.

A name is compared byte for byte (``specs/protocol.md`` §3, the ``name`` claim), so both sides must write
it the same way: the issuer when it mints the ``name`` claim, and the relying party when it builds a
``name_equals`` question (:class:`netid.verifier.Query`). Without one form, a name typed with another
middle dot — minority names such as 阿依古丽·买买提 are written with U+00B7, U+30FB, U+2022 or U+2027
depending on the keyboard — in full-width letters, with a space, or in another Unicode normal form would
answer *no* for the right person.

The canonical form (``netid-name-v1``), in order:

1. Unicode NFKC (full-width and half-width forms fold to their ordinary ones, compatibility ideographs to
   their unified ones, NFD to composed characters);
2. every middle-dot variant (:data:`MIDDLE_DOTS`) becomes U+00B7 MIDDLE DOT;
3. white space and invisible separators (:data:`INVISIBLE`) are removed;
4. NFKC again (step 3 can bring a base letter next to a combining mark it composes with).

Case is kept: an identity document writes a name in one case, and folding it would declare names equal
that the document does not. The vectors are ``specs/vectors/name-canonical.json``.

>>> canonical_name("阿依古丽•买买提") == canonical_name("阿依古丽 · 买买提") == "阿依古丽·买买提"
True
>>> canonical_name("ＺＨＡＮＧ　ＳＡＮ")
'ZHANGSAN'
"""

from __future__ import annotations

import unicodedata
from typing import Final

from netid.errors import UsageError

__all__ = ["CANONICAL_FORM", "INVISIBLE", "MAX_NAME_LENGTH", "MIDDLE_DOT", "MIDDLE_DOTS", "canonical_name"]

#: the name of this canonical form, should another one ever be needed
CANONICAL_FORM: Final = "netid-name-v1"
MIDDLE_DOT: Final = "\u00b7"
#: separators written between the parts of a name, all read as U+00B7 (after NFKC, which already maps
#: U+FF65 HALFWIDTH KATAKANA MIDDLE DOT to U+30FB and U+0387 GREEK ANO TELEIA to U+00B7)
MIDDLE_DOTS: Final = frozenset(
    {
        "\u00b7",  # MIDDLE DOT
        "\u0387",  # GREEK ANO TELEIA
        "\u2022",  # BULLET
        "\u2027",  # HYPHENATION POINT
        "\u2219",  # BULLET OPERATOR
        "\u22c5",  # DOT OPERATOR
        "\u2e31",  # WORD SEPARATOR MIDDLE DOT
        "\u30fb",  # KATAKANA MIDDLE DOT
        "\ua78f",  # LATIN LETTER SINOLOGICAL DOT
        "\uff65",  # HALFWIDTH KATAKANA MIDDLE DOT
    }
)
#: removed besides ``str.isspace()`` characters: zero-width space, word joiner, zero-width no-break space
INVISIBLE: Final = frozenset({"\u200b", "\u2060", "\ufeff"})
#: longest canonical name accepted (characters)
MAX_NAME_LENGTH: Final = 256


def canonical_name(name: str) -> str:
    """The canonical form of ``name`` (see the module docstring).

    :class:`UsageError` if ``name`` is not a string, or is empty or longer than
    :data:`MAX_NAME_LENGTH` characters once canonical. Idempotent:
    ``canonical_name(canonical_name(x)) == canonical_name(x)``.
    """
    if not isinstance(name, str):
        raise UsageError("a name must be a string")
    if len(name) > 4 * MAX_NAME_LENGTH:  # bound the work before normalising untrusted text
        raise UsageError(f"a name may have at most {MAX_NAME_LENGTH} characters")
    folded = unicodedata.normalize("NFKC", name)
    kept = "".join(
        MIDDLE_DOT if c in MIDDLE_DOTS else c for c in folded if not (c.isspace() or c in INVISIBLE)
    )
    out = unicodedata.normalize("NFKC", kept)
    if not out:
        raise UsageError("a name must not be empty")
    if len(out) > MAX_NAME_LENGTH:
        raise UsageError(f"a name may have at most {MAX_NAME_LENGTH} characters")
    return out
