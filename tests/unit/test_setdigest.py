"""The set digest (``core.setdigest``): order does not matter, an update equals a
recomputation, a changed, added or dropped record changes it, a record twice counts twice,
and only a well-formed digest is read back."""

from __future__ import annotations

import random

import pytest

from leadguard.core import setdigest as sd


def records(n: int, seed: int) -> list[bytes]:
    rng = random.Random(seed)
    return [rng.randbytes(rng.randrange(0, 700)) for _ in range(n)]


def test_the_digest_is_the_product_modulo_the_prime_in_any_order() -> None:
    rs = records(300, 1)
    plain = 1
    for r in rs:  # the fast reduction against plain modular arithmetic
        plain = plain * sd.element(r) % sd.PRIME
    shuffled = rs[:]
    random.Random(2).shuffle(shuffled)
    assert sd.of(rs) == plain == sd.of(shuffled)
    assert sd.of([]) == sd.EMPTY


def test_an_update_equals_the_digest_of_the_records_after_it() -> None:
    rs = records(200, 3)
    kept, gone, new = rs[:120], rs[120:], records(50, 4)
    assert sd.update(sd.of(rs), new, gone) == sd.of(kept + new)
    assert sd.update(sd.EMPTY, rs, []) == sd.of(rs)
    assert sd.update(sd.of(rs), [], rs) == sd.EMPTY


def test_any_change_of_the_records_changes_the_digest() -> None:
    rs = records(100, 5)
    base = sd.of(rs)
    flipped = bytearray(rs[7] or b"\0")
    flipped[0] ^= 1
    assert sd.of([*rs[:7], bytes(flipped), *rs[8:]]) != base  # one bit of one record
    assert sd.of(rs[:-1]) != base  # one dropped
    assert sd.of([*rs, b""]) != base  # an empty record added
    assert sd.of([*rs, rs[0]]) != base  # a record twice is not the record once
    # taking out a record that was never put in leaves a digest no set of rows gives
    assert sd.update(base, [], [b"never there"]) != base


def test_hex_round_trips_and_refuses_what_is_not_a_digest() -> None:
    d = sd.of(records(10, 6))
    assert sd.from_hex(sd.to_hex(d)) == d and len(sd.to_hex(d)) == 2 * sd.BYTES
    for bad in ("", "zz", "00" * 10, "00" * sd.BYTES, "ff" * sd.BYTES):
        with pytest.raises(ValueError):
            sd.from_hex(bad)
