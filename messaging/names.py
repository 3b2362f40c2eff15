"""Names people read: display names, professions, device names.

A name is shown to other people as who they are writing to, so it must look like what it is:
- it is kept in Unicode normalisation form C, so that ``é`` is one way of writing ``é``;
- it holds no character that changes how the rest is shown or hides itself: controls (a
  newline), format characters (U+202E RIGHT-TO-LEFT OVERRIDE and the other bidirectional
  controls, U+200B ZERO WIDTH SPACE and its kin), line and paragraph separators, private-use,
  unassigned and surrogate code points, and no pile of combining marks;
- a name that *looks like* another one (``Dr Alice Martin`` and ``Dr Аlice Martin`` with a
  Cyrillic ``А``, or ``Dr AIice Martin`` with a capital ``I``) has the same **skeleton**
  (Unicode TR39: each character folded to the prototype it can be confused with), and the
  directory asks the operator to confirm it on purpose (``Directory.create_principal``).

The skeleton comes from ``disarm`` (TR39 data of the current Unicode version, a fixed point
under NFC, 1.6 µs a name): the alternatives were PyICU, the reference implementation, which
ships no wheel and needs ICU's headers and a C++ compiler on every machine that installs it,
and two pure-Python packages without a skeleton function (``confusable_homoglyphs``) or kept
on Unicode 8.0 data since 2021 (``confusables``).
"""

from __future__ import annotations

import unicodedata
from typing import Final

import disarm

REFUSED_CATEGORIES: Final = frozenset({"Cc", "Cf", "Co", "Cs", "Cn", "Zl", "Zp"})
"""Control, format (bidi controls, zero-width characters), private use, surrogate, unassigned,
line and paragraph separators."""
MAX_COMBINING_RUN: Final = 3
"""Combining marks in a row after NFC: French and every other script a name is written in need
two at most; a pile of them is drawn over the neighbouring lines ("zalgo")."""


class UnfitName(ValueError):
    """A name holding characters that would hide or disguise what it shows."""


def clean(name: str) -> str:
    """``name`` in NFC, or ``UnfitName``; the reason never quotes the name."""
    normal = unicodedata.normalize("NFC", name)
    run = 0
    for char in normal:
        category = unicodedata.category(char)
        if category in REFUSED_CATEGORIES:
            raise UnfitName(
                f"a name may not hold U+{ord(char):04X} ({category}: control, bidirectional, "
                "invisible or unassigned characters are refused)"
            )
        run = run + 1 if category.startswith("M") else 0
        if run > MAX_COMBINING_RUN:
            raise UnfitName(f"a name may not stack more than {MAX_COMBINING_RUN} combining marks")
    if normal != normal.strip():
        raise UnfitName("a name may not start or end with a space")
    return normal


def skeleton(name: str) -> str:
    """What ``name`` looks like (TR39 skeleton, lower case, spaces collapsed): two names with
    the same skeleton can be taken one for the other."""
    return disarm.skeleton_key(name)
