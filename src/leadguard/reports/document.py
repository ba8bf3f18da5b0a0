"""A small document model that both renderers (HTML and PDF) draw from, so that the two
forms of a report always say the same thing."""

from __future__ import annotations

from dataclasses import dataclass, field

from leadguard.core.textsafe import printable_lines


@dataclass(frozen=True)
class Heading:
    text: str
    level: int = 1  # 1: section, 2: subsection


@dataclass(frozen=True)
class Para:
    text: str
    warning: bool = False  # drawn as a boxed warning


@dataclass(frozen=True)
class Fields:
    """Label: value pairs."""

    rows: tuple[tuple[str, str], ...]


@dataclass(frozen=True)
class Table:
    header: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]
    widths: tuple[float, ...] = ()  # relative column widths (PDF); equal if empty


@dataclass(frozen=True)
class Picture:
    caption: str
    data: bytes  # the stored bytes themselves (JPEG or PNG), never re-encoded
    width_mm: float = 60.0

    @property
    def mime(self) -> str:
        return "image/jpeg" if self.data[:3] == b"\xff\xd8\xff" else "image/png"


Block = Heading | Para | Fields | Table | Picture


@dataclass
class Document:
    title: str
    banner: str  # the line at the very top, in bold, on every page
    blocks: list[Block] = field(default_factory=list)

    def h(self, text: str, level: int = 1) -> None:
        self.blocks.append(Heading(printable_lines(text), level))

    def p(self, text: str, warning: bool = False) -> None:
        self.blocks.append(Para(printable_lines(text), warning))

    def fields(self, rows: list[tuple[str, object]]) -> None:
        self.blocks.append(Fields(tuple((k, text(v)) for k, v in rows)))

    def table(
        self, header: list[str], rows: list[list[object]], widths: tuple[float, ...] = ()
    ) -> None:
        self.blocks.append(
            Table(tuple(header), tuple(tuple(text(c) for c in r) for r in rows), widths)
        )

    def picture(self, caption: str, data: bytes, width_mm: float = 60.0) -> None:
        self.blocks.append(Picture(printable_lines(caption), data, width_mm))


def text(v: object) -> str:
    """How a stored value reads in a document: absent values say so."""
    if v is None or v == "":
        return "—"
    if isinstance(v, bool):
        return "yes" if v else "no"
    if isinstance(v, float):
        return f"{v:.6g}"
    return printable_lines(str(v))  # a stored control character is shown, never obeyed
