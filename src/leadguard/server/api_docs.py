"""The API described for people and for client generators, in one place: each operation's
id (``generate_unique_id_function``), summary and description, and the offline reference
page (``GET /api/docs``) rendered on the server from the OpenAPI schema: no script, nothing
from a CDN (Swagger UI and ReDoc load theirs from one)."""

from __future__ import annotations

import re
from typing import Any

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import HTMLResponse
from fastapi.routing import APIRoute
from jinja2 import Environment, PackageLoader, select_autoescape

# "METHOD path" -> (operation id, summary, description). An operation missing here takes
# an id made from its function's name and its docstring (tests/server/test_api_docs.py
# fails on one without a description); the route's docstring stays for its readers.
OPERATIONS: dict[str, tuple[str, str, str]] = {
    "POST /api/login": (
        "login",
        "Log in",
        "A bearer token for the same login sessions as `leadguard login` (expiry "
        "`session_hours`, lockout with backoff). A wrong user name or password is 401; "
        "too many attempts from one address or for one user is 429 with `Retry-After`.",
    ),
    "POST /api/logout": (
        "logout",
        "Log out",
        "Revoke the bearer token sent with this request; it cannot be used again.",
    ),
    "GET /api/me": ("getMe", "Who am I", "The user, role and unit the bearer token acts as."),
    "GET /api/cases": (
        "listCases",
        "List cases",
        "The cases you may see: those you are assigned to, every case of a supervisor's "
        "unit, every case for an auditor.",
    ),
    "POST /api/cases": (
        "openCase",
        "Open a case",
        "Open a case (supervisor or examiner). Refused by policy (409, rule "
        "`eligible_offences`) unless the offence is on the policy's list; the opener is "
        "assigned.",
    ),
    "GET /api/cases/{number}": (
        "getCase",
        "Show a case",
        "A case with its search requests (probe hash, status, who requested and approved) "
        "and its leads.",
    ),
    "POST /api/cases/{number}/assign": (
        "assignToCase",
        "Assign a user to a case",
        "Assign a user to a case (a supervisor of the case's unit).",
    ),
    "POST /api/cases/{number}/suspect": (
        "markSuspectIdentified",
        "Suspect identified",
        'Move the case to "suspect identified" on a lead; refused by policy (rule '
        "`corroboration_before_suspect`) without independent corroboration on record.",
    ),
    "POST /api/cases/{number}/facts": (
        "addCaseFact",
        "Record a fact about the person sought",
        "A further fact about the person sought (height, build, marks, pregnancy...): every "
        "possible lead must check it; a release on reviews made before it is refused until a "
        "supervisor's ruling answers it.",
    ),
    "POST /api/cases/{number}/external-searches": (
        "recordExternalSearch",
        "Record a face search run outside LeadGuard",
        "A face search run by a retailer, another agency or a commercial service (who ran "
        "it, which system, when, whom it named): audited and disclosed; never corroboration "
        "and never a lead by itself.",
    ),
    "GET /api/cases/{number}/external-searches": (
        "listExternalSearches",
        "List a case's external face searches",
        "The face searches run outside LeadGuard that are recorded under the case.",
    ),
    "GET /api/requests": (
        "listRequests",
        "List search requests",
        "Search requests on the cases you may see; `pending=true`: those awaiting approval.",
    ),
    "POST /api/cases/{number}/requests": (
        "createRequest",
        "File a search request",
        "A search request under a case with its probe, stored as received (bytes, SHA-256, "
        "EXIF, source type), and the edits LeadGuard will apply and record. Pending "
        "supervisor approval when the policy requires it.",
    ),
    "GET /api/requests/{request_id}/brief": (
        "getAdjudicationBrief",
        "Read the examiners' notes before a ruling",
        "Both examiners' feature notes and checks on a candidate, and the inconsistencies a "
        "ruling must answer in writing (supervisor; audited: a ruling needs it read first).",
    ),
    "POST /api/leads/{lead_id}/administer": (
        "recordArrayShowing",
        "Record a photo-array showing",
        "The double-blind sequential showing of the lead's latest array: administrator, "
        "instruction, each position's decision, the witness and their type (a witness who "
        "saw only the same recording is refused).",
    ),
    "POST /api/requests/{request_id}/approve": (
        "approveRequest",
        "Approve a request",
        "Approve a search request (a supervisor, not its requester); the approval names the "
        "stored probe's SHA-256.",
    ),
    "POST /api/requests/{request_id}/run": (
        "runRequest",
        "Run an approved request",
        "Run the approved request's search on the stored probe bytes; the candidate list goes "
        "to blind review, not to the caller.",
    ),
    "GET /api/requests/{request_id}/probe": (
        "getProbeImage",
        "The probe image",
        "The request's probe as stored, to those who may view the case.",
    ),
    "GET /api/requests/{request_id}/candidate-image": (
        "getCandidateImage",
        "A candidate's image",
        "A candidate's gallery image: by the letter of your packet under blind review, by "
        "subject once every review is in.",
    ),
    "GET /api/reviews/queue": (
        "listReviewQueue",
        "My pending reviews",
        "The requests waiting for your blind review.",
    ),
    "GET /api/requests/{request_id}/packet": (
        "getReviewPacket",
        "My blind packet",
        "Your blind packet: the probe, the incident and the person sought, candidates by "
        "letter in your own order; no name, score, rank, evidence or other reviewer's "
        "decision.",
    ),
    "GET /api/requests/{request_id}/comparison": (
        "getComparison",
        "The eye-aligned pair",
        "The probe and one candidate scaled and rotated so that the eye centres (dlib's 68 "
        "landmarks in the face box the search compared) fall on the same two points of a "
        "360 x 440 canvas, as PNG data URLs, with the landmarks on the canvas and your "
        "marks. Under blind review only by the letter of your packet (`candidate=A`) and "
        "only your own marks, with nothing of who the candidate is; once every review is "
        "in, by `subject`, with every mark and who made it.",
    ),
    "GET /api/requests/{request_id}/annotations": (
        "listAnnotations",
        "Marks on a candidate",
        "The marks on the aligned pair of one candidate: yours, by letter, under blind "
        "review; everyone's, by subject, once every review is in.",
    ),
    "POST /api/requests/{request_id}/annotations": (
        "annotate",
        "Mark the aligned pair",
        "A point or a region (two corners) tied to a FISWG feature, or a measurement "
        "between two points (returned as a fraction of the inter-eye distance), with a "
        "note, on the probe or the candidate of the aligned pair. An examiner marks during "
        "their own blind review (by letter) until their review is in; after the reveal, a "
        "supervisor who may adjudicate marks by subject. Audited on the request.",
    ),
    "POST /api/requests/{request_id}/annotations/{annotation_id}/delete": (
        "deleteAnnotation",
        "Remove a mark",
        "Remove one of your own marks, while you may still mark (audited).",
    ),
    "POST /api/requests/{request_id}/reviews": (
        "submitReview",
        "Submit a review",
        "Your review, by the letters of your packet: a decision and confidence per "
        "candidate; a possible lead needs feature notes and the exculpatory checklist.",
    ),
    "GET /api/requests/{request_id}/reveal": (
        "getReveal",
        "Reveal scores and decisions",
        "Scores, ranks, evidence, every review and adjudication, once the required number "
        "of reviews is in.",
    ),
    "POST /api/requests/{request_id}/release": (
        "releaseLead",
        "Release a lead",
        "Release a lead (supervisor); refused by policy (rule `two_concurring_examiners`) "
        'unless the examiners concur on "possible lead".',
    ),
    "POST /api/requests/{request_id}/adjudicate": (
        "adjudicate",
        "Adjudicate a disagreement",
        "A supervisor's final ruling on a disagreement; the lead when it is released, else null.",
    ),
    "GET /api/leads": (
        "listLeads",
        "List leads",
        "Leads on the cases you may see, with their corroboration, lineup and latest outcome.",
    ),
    "GET /api/leads/stats": (
        "getLeadStats",
        "Lead outcomes by group",
        "Released leads and their outcomes by the candidate's recorded sex and race.",
    ),
    "POST /api/leads/{lead_id}/corroborate": (
        "corroborateLead",
        "Record corroboration",
        "Record independent corroborating evidence for a lead; a resemblance or another "
        "face search is refused.",
    ),
    "POST /api/leads/{lead_id}/array": (
        "buildPhotoArray",
        "Build a photo array",
        "A photo array for a corroborated lead, fillers by the witness's description; "
        "refused when the suspect is the face most like the probe. The suspect's position "
        "is sealed.",
    ),
    "POST /api/leads/{lead_id}/outcome": (
        "recordOutcome",
        "Record an outcome",
        "Add to the lead's outcome history (never overwritten).",
    ),
    "GET /api/users": (
        "listUsers",
        "List accounts",
        "Accounts with role, unit, active and locked (admin, auditor).",
    ),
    "POST /api/users": (
        "addUser",
        "Add an account",
        "Add an account (admin); the password is stored argon2-hashed.",
    ),
    "GET /api/audit/verify": (
        "verifyAudit",
        "Verify the audit chain",
        "The audit log's hash chain checked from genesis, with the head hash to compare "
        "with an anchor.",
    ),
    "GET /api/audit/entries": (
        "listAuditEntries",
        "Read audit entries",
        "Audit entries (a case's whole trail, or by object prefix), filtered by action and "
        "actor; reading them is itself an audited export.",
    ),
    "GET /api/audit/page": (
        "pageAuditEntries",
        "Read one page of audit entries",
        "One page of the entries the caller may read, newest first, filtered by case, object "
        "prefix, action, actor and days (in the workspace's time zone); `older`/`newer` are "
        "the cursors of the next pages. Each page read is an audited export.",
    ),
    "GET /api/cases/{number}/export": (
        "exportCase",
        "Export a case's audit trail",
        "A case's whole audit trail as a JSON download, for disclosure (audited).",
    ),
    "GET /api/gallery/stats": (
        "getGalleryStats",
        "Gallery statistics",
        "Subjects, encounters, images, faces and templates per embedding space, failures by "
        "reason.",
    ),
    "GET /api/gallery/duplicates": (
        "listProbableDuplicates",
        "Probable duplicates",
        "Pairs of different subject ids whose faces score far above the gallery's own stranger "
        "range (probably one person enrolled twice), with the agency's verdicts, and the "
        "statement of what the gallery's stranger figures exclude.",
    ),
    "POST /api/gallery/duplicates/resolve": (
        "resolveProbableDuplicate",
        "Resolve a probable duplicate",
        "Record the verdict on two subject ids (same person: kept out of every stranger "
        "figure; different people: counted again), with a note; audited (an admin's).",
    ),
    "GET /api/searches": (
        "listSearches",
        "The search log",
        "The latest searches: mode, outcome, candidates, gallery size, threshold.",
    ),
    "GET /api/records": (
        "listAccuracyRecords",
        "Accuracy records",
        "The evaluation records stored in the workspace, each with its report's address.",
    ),
    "POST /api/search": (
        "urgentSearch",
        "Urgent search",
        "A supervisor's urgent search outside a request, tied to a case with a written "
        "reason: audited and flagged for review. Every other search runs from an approved "
        "request (`runRequest`).",
    ),
}


def _key(route: APIRoute) -> str:
    method = sorted(route.methods or {"GET"})[0]
    return f"{method} {route.path_format}"


def _camel(name: str) -> str:
    name = re.sub(r"^(api|web)_", "", name)
    name = re.sub(r"_route$", "", name)
    head, *rest = [p for p in name.split("_") if p]
    return head + "".join(p[:1].upper() + p[1:] for p in rest)


def operation_id(route: APIRoute) -> str:
    """The operation id a client generator names its method by: from OPERATIONS, else the
    route function's name in camelCase (``api_case_open`` -> ``caseOpen``)."""
    entry = OPERATIONS.get(_key(route))
    return entry[0] if entry else _camel(route.name)


def _api_routes(routes: list[Any]) -> list[APIRoute]:
    out: list[APIRoute] = []
    for r in routes:
        inner = getattr(r, "original_router", None)  # an included router's routes
        if inner is not None:
            out += _api_routes(inner.routes)
        elif isinstance(r, APIRoute):
            out.append(r)
    return out


def describe(app: FastAPI) -> None:
    """Give every API operation its summary and description (before the schema is built)."""
    for route in _api_routes(app.routes):
        if not route.include_in_schema:
            continue
        entry = OPERATIONS.get(_key(route))
        doc = route.description.strip()
        if entry is not None:
            route.summary = route.summary or entry[1]
            route.description = entry[2]  # the table, written for readers of the API
        elif doc and not route.summary:
            route.summary = doc.split("\n\n")[0].split(". ")[0].rstrip(".")


# --- the reference page -------------------------------------------------------------

router = APIRouter()
_env = Environment(
    loader=PackageLoader("leadguard.server", "templates"), autoescape=select_autoescape()
)


def _ref(schema: dict[str, Any]) -> str:
    if "$ref" in schema:
        return str(schema["$ref"]).rsplit("/", 1)[-1]
    if "items" in schema:
        return f"list of {_ref(schema['items'])}"
    for key in ("anyOf", "oneOf"):
        if key in schema:
            return " or ".join(_ref(s) for s in schema[key])
    return str(schema.get("type", schema.get("format", "any")))


def _operations(spec: dict[str, Any]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for path, ops in spec.get("paths", {}).items():
        for method, op in ops.items():
            body = op.get("requestBody", {}).get("content", {})
            responses = [
                {
                    "status": code,
                    "description": r.get("description", ""),
                    "schema": ", ".join(
                        _ref(c["schema"]) for c in r.get("content", {}).values() if "schema" in c
                    ),
                }
                for code, r in sorted(op.get("responses", {}).items())
            ]
            out.append(
                {
                    "method": method.upper(),
                    "path": path,
                    "id": op.get("operationId", ""),
                    "summary": op.get("summary", ""),
                    "description": op.get("description", ""),
                    "tag": (op.get("tags") or ["other"])[0],
                    "parameters": [
                        {
                            "name": p["name"],
                            "in": p["in"],
                            "required": p.get("required", False),
                            "type": _ref(p.get("schema", {})),
                            "description": p.get("description", ""),
                        }
                        for p in op.get("parameters", [])
                    ],
                    "body": [
                        {"type": kind, "schema": _ref(c.get("schema", {}))}
                        for kind, c in body.items()
                    ],
                    "responses": responses,
                }
            )
    return out


def _models(spec: dict[str, Any]) -> list[dict[str, Any]]:
    models = []
    for name, m in sorted(spec.get("components", {}).get("schemas", {}).items()):
        required = set(m.get("required", []))
        models.append(
            {
                "name": name,
                "description": m.get("description", ""),
                "fields": [
                    {
                        "name": f,
                        "type": _ref(s),
                        "required": f in required,
                        "description": s.get("description", ""),
                    }
                    for f, s in m.get("properties", {}).items()
                ],
                "choices": m.get("enum", []),
            }
        )
    return models


@router.get("/api/docs", include_in_schema=False, response_class=HTMLResponse)
def api_reference(request: Request) -> HTMLResponse:
    """The API reference, rendered here from the OpenAPI schema (no script, no CDN)."""
    spec = request.app.openapi()
    ops = _operations(spec)
    tags = list(dict.fromkeys(op["tag"] for op in ops))
    html = _env.get_template("api_reference.html").render(
        spec=spec, tags=tags, operations=ops, models=_models(spec)
    )
    return HTMLResponse(html)
