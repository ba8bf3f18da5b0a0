"""The comparison view's API: the eye-aligned pair of a probe and one candidate, and the
marks on it (docs/server.md, "The comparison view"). Under blind review a candidate is named
by the letter of your packet (``candidate=A``) and nothing of who it is comes back; once
every review is in, by subject."""

from __future__ import annotations

import base64
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel, Field

from leadguard.server import schemas as S
from leadguard.server.auth import ApiActor, State
from leadguard.server.errors import ERROR_RESPONSES
from leadguard.server.uploads import known_fields
from leadguard.services import annotations as marks_svc
from leadguard.services import comparison

router = APIRouter(prefix="/api", responses=ERROR_RESPONSES, dependencies=[Depends(known_fields)])
Letter = Annotated[str | None, Query(max_length=200, description="the letter of your blind packet")]
Subject = Annotated[str | None, Query(max_length=200, description="once every review is in")]


class AlignedSideOut(BaseModel):
    image: str | None = Field(description="the aligned face as a data: URL (PNG); null if not")
    landmarks: list[tuple[float, float]] = Field(description="the 68 landmarks on the canvas")
    problem: str = ""


class AnnotationOut(BaseModel):
    id: int
    examiner: str
    image: str
    kind: str
    feature: str
    points: list[tuple[float, float]]
    note: str
    measure: float | None = Field(description="distance / inter-eye distance (a measurement)")
    created_at: str


class ComparisonOut(BaseModel):
    request: int
    label: str = Field(description='"candidate A" under blind review, else the subject')
    blind: bool
    width: int
    height: int
    eyes: tuple[tuple[float, float], tuple[float, float]]
    inter_eye: float
    landmark_model: str
    probe: AlignedSideOut
    candidate: AlignedSideOut
    annotations: list[AnnotationOut]


class AnnotationIn(BaseModel):
    candidate: str | None = Field(None, max_length=200, description="letter (blind review)")
    subject: str | None = Field(None, max_length=200, description="subject (after reveal)")
    image: str = Field(max_length=16, description="probe or candidate")
    kind: str = Field(max_length=16, description="point, region (two corners) or measure")
    feature: str = Field(max_length=64, description="a FISWG feature")
    points: list[tuple[float, float]] = Field(max_length=2)
    note: str = Field("", max_length=2000)


def side_out(side: comparison.AlignedSide) -> AlignedSideOut:
    url = None
    if side.png is not None:
        url = "data:image/png;base64," + base64.b64encode(side.png).decode("ascii")
    return AlignedSideOut(image=url, landmarks=list(side.landmarks), problem=side.problem)


def comparison_out(pair: comparison.AlignedPair, marks: list[Any]) -> ComparisonOut:
    return ComparisonOut(
        request=pair.request,
        label=pair.label,
        blind=pair.blind,
        width=pair.width,
        height=pair.height,
        eyes=pair.eyes,
        inter_eye=pair.inter_eye,
        landmark_model=pair.landmark_model,
        probe=side_out(pair.probe),
        candidate=side_out(pair.candidate),
        annotations=[S.of(AnnotationOut, m) for m in marks],
    )


def comparison_of(
    st: Any, actor: Any, request_id: int, candidate: str | None, subject: str | None
) -> ComparisonOut:
    pair = st.call(comparison.aligned_pair, st.ctx, actor, request_id, candidate, subject)
    marks = st.call(marks_svc.list_annotations, st.ctx, actor, request_id, candidate, subject)
    return comparison_out(pair, marks)


@router.get("/requests/{request_id}/comparison", response_model=ComparisonOut, tags=["review"])
def api_comparison(
    request_id: int,
    st: State,
    actor: ApiActor,
    candidate: Letter = None,
    subject: Subject = None,
) -> ComparisonOut:
    return comparison_of(st, actor, request_id, candidate, subject)


@router.get(
    "/requests/{request_id}/annotations", response_model=list[AnnotationOut], tags=["review"]
)
def api_annotations(
    request_id: int,
    st: State,
    actor: ApiActor,
    candidate: Letter = None,
    subject: Subject = None,
) -> list[AnnotationOut]:
    marks = st.call(marks_svc.list_annotations, st.ctx, actor, request_id, candidate, subject)
    return [S.of(AnnotationOut, m) for m in marks]


def add(st: Any, actor: Any, request_id: int, body: AnnotationIn) -> AnnotationOut:
    mark = st.call(
        marks_svc.add_annotation,
        st.ctx,
        actor,
        request_id,
        body.image,
        body.kind,
        body.feature,
        [list(p) for p in body.points],
        body.note,
        body.candidate,
        body.subject,
    )
    return S.of(AnnotationOut, mark)


@router.post(
    "/requests/{request_id}/annotations",
    response_model=AnnotationOut,
    status_code=201,
    tags=["review"],
)
def api_annotate(request_id: int, body: AnnotationIn, st: State, actor: ApiActor) -> AnnotationOut:
    return add(st, actor, request_id, body)


@router.post(
    "/requests/{request_id}/annotations/{annotation_id}/delete",
    response_model=S.Done,
    tags=["review"],
)
def api_unannotate(request_id: int, annotation_id: int, st: State, actor: ApiActor) -> S.Done:
    st.call(marks_svc.delete_annotation, st.ctx, actor, request_id, annotation_id)
    return S.Done(message=f"mark {annotation_id} removed")
