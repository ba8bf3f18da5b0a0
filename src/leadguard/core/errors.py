"""One exception tree for LeadGuard. No HTTP or CLI types here.

::

    LeadGuardError
    ├── InputError                 bad input from a user or a file; names the thing and the reason
    │   ├── ImageError             an image that cannot be used (carries a machine-readable code)
    │   │   ├── UnreadableImage    missing, corrupt, truncated, unsupported format, too large
    │   │   └── FaceError          decoded, but no usable face
    │   │       ├── NoFace
    │   │       ├── SeveralFaces   carries the detections so a caller can ask which one
    │   │       └── FaceTooSmall
    │   └── ManifestError          a bad enrollment source or CSV row
    ├── WorkspaceError             missing or broken workspace
    ├── ModelUnavailable           model package or weights not installed
    ├── SpaceMismatch              comparing templates from different embedding spaces
    └── IndexError_                vector index and database disagree or index is damaged
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from leadguard.core.types import Detection


class LeadGuardError(Exception):
    """Base of every error LeadGuard raises on purpose."""


class InputError(LeadGuardError):
    """Bad input: the message names the thing and the reason."""


class ImageError(InputError):
    """An image that cannot be enrolled or searched.

    ``code`` is a short stable reason (``unreadable``, ``no_face``, ``several_faces``,
    ``face_too_small``) used in enrollment summaries and score files.
    """

    code = "unreadable"

    def __init__(self, source: str, reason: str) -> None:
        self.source = source
        self.reason = reason
        super().__init__(f"{source}: {reason}")


class UnreadableImage(ImageError):
    code = "unreadable"


class FaceError(ImageError):
    code = "no_face"


class NoFace(FaceError):
    code = "no_face"


class SeveralFaces(FaceError):
    code = "several_faces"

    def __init__(self, source: str, reason: str, detections: tuple[Detection, ...]) -> None:
        super().__init__(source, reason)
        self.detections = detections


class FaceTooSmall(FaceError):
    code = "face_too_small"


class ManifestError(InputError):
    """A bad enrollment source, or a bad row in a CSV manifest."""


class WorkspaceError(LeadGuardError):
    """The workspace is missing, not initialised, or broken."""


class FindingsError(WorkspaceError):
    """A refusal with several findings: ``head``, one line per finding, then what to do
    (a terminal shows them a line each; ``str`` joins them for a log or an API)."""

    def __init__(self, head: str, findings: list[str], remedy: str) -> None:
        self.head, self.findings, self.remedy = head, tuple(findings), remedy
        super().__init__(f"{head} {'; '.join(findings)}; {remedy}")


class ModelUnavailable(LeadGuardError):
    """A model package or weights file is not installed."""


class SpaceMismatch(LeadGuardError):
    """Templates from different embedding spaces were about to be compared."""


class IndexError_(LeadGuardError):
    """The vector index is damaged or disagrees with the database."""


class EvidenceUnavailable(LeadGuardError):
    """No measured evidence model for the embedding space: no threshold can be set."""
