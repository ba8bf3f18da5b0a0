"""What a long-lived workspace object (the server's) keeps between calls: each value with the
stamp it agrees with (the gallery generation, and the file it was read from), typed by the
slot its owner declares (``gallery.maintenance.INDEX``, ``COUNTS``; ``evidence.shift.TAIL``;
``evidence.gallery_figures.PAIRS``).
A value is handed back only while its stamp is unchanged."""

from __future__ import annotations

from collections.abc import Hashable
from typing import Generic, TypeVar, cast

T = TypeVar("T")


class Slot(Generic[T]):
    """A kind of resident value; its owner module declares it once."""

    def __init__(self, name: str) -> None:
        self.name = name

    def __repr__(self) -> str:
        return f"Slot({self.name!r})"


class Resident:
    """Resident values per (slot, embedding space)."""

    def __init__(self) -> None:
        self._held: dict[tuple[str, str], tuple[Hashable, object]] = {}

    def get(self, slot: Slot[T], space_key: str, stamp: Hashable) -> T | None:
        """The value held for ``space_key`` if it agrees with ``stamp``, else None."""
        held = self._held.get((slot.name, space_key))
        if held is None or held[0] != stamp:
            return None
        return cast(T, held[1])

    def peek(self, slot: Slot[T], space_key: str) -> T | None:
        """The value held, whatever its stamp (for tests and diagnostics)."""
        held = self._held.get((slot.name, space_key))
        return None if held is None else cast(T, held[1])

    def put(self, slot: Slot[T], space_key: str, stamp: Hashable, value: T) -> None:
        self._held[(slot.name, space_key)] = (stamp, value)

    def clear(self) -> None:
        self._held.clear()
