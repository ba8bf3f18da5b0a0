"""The face pipeline: bytes -> decoded image -> chosen face -> template.

Enrollment and search use this same pipeline; only the rule that picks a face when an
image holds several differs (a setting for enrollment, the user's ``--face`` for search).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from leadguard.core.errors import FaceError, FaceTooSmall, NoFace, SeveralFaces
from leadguard.core.types import DecodedImage, Detection, FaceTemplate, RGBImage
from leadguard.pipeline.decode import Header, decode_image
from leadguard.pipeline.measures import Measure, measure_face

if TYPE_CHECKING:
    from leadguard.face_models.base import FaceModel


@dataclass(frozen=True)
class FaceSelection:
    """How to choose one face: by index (0-based, largest first) or by policy."""

    policy: str = "reject"  # "reject" | "central"
    index: int | None = None


@dataclass(frozen=True)
class ProcessedImage:
    image: DecodedImage
    detections: tuple[Detection, ...]
    template: FaceTemplate
    quality: dict[str, Measure] = field(default_factory=dict)


@dataclass(frozen=True)
class MeasuredFace:
    """A chosen face and its quality measures, without a template (quality studies)."""

    image: DecodedImage
    detections: tuple[Detection, ...]
    face: Detection
    quality: dict[str, Measure]


def dlib_68_on_box(pixels: RGBImage, face: Detection) -> tuple[tuple[int, int], ...]:
    from leadguard.face_models.dlib_backend import landmarks_68

    return landmarks_68(pixels, face.box)


def detection_lines(detections: tuple[Detection, ...] | list[Detection]) -> list[str]:
    return [
        f"face {i}: box ({d.box.left},{d.box.top})-({d.box.right},{d.box.bottom}), "
        f"{d.box.width}x{d.box.height} px"
        for i, d in enumerate(detections)
    ]


def describe_detections(detections: tuple[Detection, ...] | list[Detection]) -> str:
    return "; ".join(detection_lines(detections))


def choose_face(
    detections: list[Detection], image: DecodedImage, selection: FaceSelection
) -> Detection:
    """Pick one face or raise a FaceError that says why not."""
    if not detections:
        raise NoFace(image.source, "no face was found in the image")
    found = tuple(detections)
    if selection.index is not None:
        if not 0 <= selection.index < len(found):
            raise FaceError(
                image.source,
                f"no face {selection.index}: the image has {len(found)} face(s), numbered "
                f"from 0: {describe_detections(found)}",
            )
        return found[selection.index]
    if len(found) == 1:
        return found[0]
    if selection.policy == "central":
        cx, cy = image.width / 2, image.height / 2
        holding = [
            d for d in found if d.box.left <= cx <= d.box.right and d.box.top <= cy <= d.box.bottom
        ]
        if holding:
            return min(
                holding,
                key=lambda d: (d.box.centre[0] - cx) ** 2 + (d.box.centre[1] - cy) ** 2,
            )
    raise SeveralFaces(
        image.source,
        f"{len(found)} faces found; choose one: {describe_detections(found)}",
        found,
    )


class FacePipeline:
    """Runs a loaded FaceModel over image bytes, enforcing the input rules."""

    def __init__(
        self,
        model: FaceModel,
        min_face_size: int,
        max_image_pixels: int,
        space_key: str | None = None,
    ) -> None:
        self.model = model
        self.min_face_size = min_face_size
        self.max_image_pixels = max_image_pixels
        # a worker can be handed the key so that it need not hash the weights again
        self._space_key = space_key

    @property
    def space_key(self) -> str:
        if self._space_key is None:
            self._space_key = self.model.space.key
        return self._space_key

    def check_size(self, face: Detection, source: str) -> None:
        side = min(face.box.width, face.box.height)
        if side < self.min_face_size:
            raise FaceTooSmall(
                source,
                f"face is {face.box.width}x{face.box.height} px, smaller than the minimum "
                f"of {self.min_face_size} px",
            )

    def decode(
        self,
        data: bytes,
        source: str,
        header: Header | None = None,
        sha256: str | None = None,
    ) -> DecodedImage:
        return decode_image(data, source, self.max_image_pixels, header, sha256)

    def measure(
        self,
        data: bytes,
        source: str,
        selection: FaceSelection,
        header: Header | None = None,
        sha256: str | None = None,
    ) -> MeasuredFace:
        """Decode, detect, choose the face and measure its quality (no size check, no
        template: a face too small to search is still measured). ``header``: the header
        check already made on ``data``; ``sha256``: the digest of ``data`` already taken."""
        image = self.decode(data, source, header, sha256)
        detections = self.model.detect(image.pixels)
        face = choose_face(detections, image, selection)
        quality = measure_face(
            image.pixels, face, len(detections), dlib_68_on_box, "dlib 68-point model on the box"
        )
        return MeasuredFace(image, tuple(detections), face, quality)

    def process(
        self, data: bytes, source: str, selection: FaceSelection, sha256: str | None = None
    ) -> ProcessedImage:
        return self.complete(self.measure(data, source, selection, sha256=sha256), source)

    def complete_many(
        self, measured: Sequence[tuple[MeasuredFace, str]]
    ) -> list[ProcessedImage | FaceError]:
        """``complete`` for several measured faces, their descriptors computed together
        (``embed_many`` where the model has it: several chips per inference run). A face
        that fails the size check gets its FaceError in its place; the others go on."""
        out: list[ProcessedImage | FaceError | None] = []
        todo: list[int] = []
        for i, (m, source) in enumerate(measured):
            try:
                self.check_size(m.face, source)
            except FaceError as exc:
                out.append(exc)
                continue
            out.append(None)
            todo.append(i)
        faces = [(measured[i][0].image.pixels, measured[i][0].face) for i in todo]
        many = getattr(self.model, "embed_many", None)
        vectors = many(faces) if many is not None else [self.model.embed(*f) for f in faces]
        for i, vector in zip(todo, vectors, strict=True):
            m = measured[i][0]
            template = FaceTemplate(detection=m.face, vector=vector, space_key=self.space_key)
            out[i] = ProcessedImage(m.image, m.detections, template, m.quality)
        return [r for r in out if r is not None]

    def complete(self, measured: MeasuredFace, source: str) -> ProcessedImage:
        """Size check and template for a measured face."""
        face = measured.face
        self.check_size(face, source)
        vector = self.model.embed(measured.image.pixels, face)
        template = FaceTemplate(detection=face, vector=vector, space_key=self.space_key)
        return ProcessedImage(measured.image, measured.detections, template, measured.quality)
