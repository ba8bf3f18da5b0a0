"""What a refusal page says would make the refused action possible, and the page the user
was on (the last page shown to them, kept in a cookie: the pages send no Referer)."""

from __future__ import annotations

from urllib.parse import urlencode

from fastapi import Request, Response

BACK = "lg_back"
# query parameters never kept in the cookie (a candidate named in a URL stays out of it)
_PRIVATE = {"subject", "candidate"}

# policy rule -> what would make the action possible
RULE_HELP = {
    "sealed_probe": "Wait until the request's search has run and every required blind "
    "review is in; its candidates are then shown to everyone allowed to see them.",
    "corroboration_before_lineup": "Record independent corroboration on the lead first: "
    "evidence that links the person to the offence, obtained without any face recognition "
    "or face comparison and without showing a witness the candidate. Then build the array.",
    "corroboration_before_suspect": "Record independent corroboration on the lead first; "
    '"suspect identified" needs evidence that links the person to the offence.',
    "examiners_required": "Wait until every required blind review of the search is in; "
    "the case page shows how many are.",
    "blind_review": "Submit your own blind review of the request first (My reviews).",
    "searcher_may_review": "Another examiner of the case reviews it: the one who ran the "
    "search may not.",
    "separation_of_duties": "Another user of the case does it: the requester or approver of "
    "a search may not approve or review it.",
    "supervisor_approval_required": "A supervisor of the case's unit approves the request "
    "first (Approval queue).",
    "eligible_offences": "Only cases of an offence the casework policy lists as eligible may "
    "be searched.",
    "fillers_by_description": "Too few gallery people fit the witness's description for an "
    "array: check the description (sex, race) as the witness gave it, or hold no photo "
    "lineup.",
    "suspect_stands_out": "The suspect was the face most like the probe among the photos "
    "drawn, so the array would point at the suspect: draw other fillers, or hold no photo "
    "lineup.",
    "exculpatory_checklist_complete": "Answer every item of the exculpatory checklist for a "
    "possible lead.",
    "two_concurring_examiners": "A lead is released when the required examiners concur; a "
    "disagreement is adjudicated by a supervisor.",
    "lead_final": "Nothing more can be recorded on a lead that is final.",
    "exclusion_final": "An exclusion by the examiners is final.",
    "double_blind_administrator": "The array is administered by a user who does not know "
    "who the suspect is (not assigned to the case, no part in the search or its reviews).",
}
STATUS_HELP = {
    401: "Log in again.",
    403: "A supervisor of the case's unit can assign you to the case, or another role "
    "takes this action.",
    404: "Check the number: it does not exist, or not on a case you may see.",
    413: "Upload a smaller file.",
    429: "Wait a minute before trying again.",
}


def help_for(rule: str | None, status: int) -> str:
    if rule:
        return RULE_HELP.get(rule, "The casework policy names the rule above.")
    return STATUS_HELP.get(status, "Correct what the message names and try again.")


def remember(request: Request, response: Response, secure: bool) -> None:
    """The page just shown, as the place a later refusal links back to."""
    kept = [(k, v) for k, v in request.query_params.multi_items() if k not in _PRIVATE]
    where = request.url.path + (f"?{urlencode(kept)}" if kept else "")
    if len(where) <= 500:
        response.set_cookie(
            BACK, where, max_age=8 * 3600, httponly=True, secure=secure, samesite="strict", path="/"
        )


def back_of(request: Request) -> str:
    """The page the user was on: a path on this server only (never another site's)."""
    where = request.cookies.get(BACK) or "/"
    if not where.startswith("/") or where.startswith("//") or "\\" in where:
        return "/"
    return where
