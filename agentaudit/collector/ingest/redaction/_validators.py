"""Checksum validators that confirm candidate matches of personal-data rules.

They run in Python only on the few candidates the linear-time engine found, never on
whole values, so their cost is bounded by the length of a match (a few dozen bytes).
Each takes the matched bytes and returns whether the candidate is real.
"""

from __future__ import annotations

from collections.abc import Callable

__all__ = ["VALIDATORS", "valid_card", "valid_iban", "valid_ssn"]

_DIGITS = frozenset(b"0123456789")


def _digits(candidate: bytes) -> bytes:
    return bytes(c for c in candidate if c in _DIGITS)


def _luhn(digits: bytes) -> bool:
    total = 0
    for index, char in enumerate(reversed(digits)):
        value = char - 48
        if index % 2 == 1:
            value *= 2
            if value > 9:
                value -= 9
        total += value
    return total % 10 == 0


def _known_issuer(digits: bytes) -> bool:
    """Issuer prefixes of the card networks (Visa, Mastercard, Amex, Discover, JCB, Diners)."""
    if digits[:1] == b"4":
        return True
    two = int(digits[:2])
    four = int(digits[:4])
    return (
        51 <= two <= 55
        or 2221 <= four <= 2720
        or two in (34, 37, 35, 36, 38, 65)
        or 300 <= int(digits[:3]) <= 305
        or four == 6011
        or 644 <= int(digits[:3]) <= 649
    )


def valid_card(candidate: bytes) -> bool:
    """13-19 digits, a known issuer prefix and a valid Luhn check digit."""
    digits = _digits(candidate)
    return 13 <= len(digits) <= 19 and _known_issuer(digits) and _luhn(digits)


def valid_iban(candidate: bytes) -> bool:
    """ISO 13616: 15-34 characters whose rearranged numeric form is 1 modulo 97."""
    text = candidate.replace(b" ", b"").upper()
    if not 15 <= len(text) <= 34 or not text.isalnum():
        return False
    rearranged = text[4:] + text[:4]
    remainder = 0
    for char in rearranged:
        value = char - 48 if char < 65 else char - 55  # '0'-'9' -> 0-9, 'A'-'Z' -> 10-35
        remainder = (remainder * (100 if value > 9 else 10) + value) % 97
    return remainder == 1


def valid_ssn(candidate: bytes) -> bool:
    """AAA-GG-SSSS with area not 000, 666 or 900-999, group not 00, serial not 0000."""
    area, group, serial = candidate[:3], candidate[4:6], candidate[7:11]
    return (
        area not in (b"000", b"666")
        and not area.startswith(b"9")
        and group != b"00"
        and serial != b"0000"
    )


VALIDATORS: dict[str, Callable[[bytes], bool]] = {
    "luhn": valid_card,
    "iban": valid_iban,
    "ssn": valid_ssn,
}
