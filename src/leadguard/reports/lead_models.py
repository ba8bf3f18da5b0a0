"""The lead report's section on the models behind the statements: the face model and its
acceptance, the evidence model, and the demographic groups' figures."""

from __future__ import annotations

from typing import Any

from leadguard.core.rate_words import interval_words, rate_words
from leadguard.reports.document import Document


def _rate(v: float) -> str:
    """A measured rate in words; none of the comparisons is 0, not "below 1 in a billion"."""
    return "0" if v == 0 else rate_words(v)


def models_section(doc: Document, rec: dict[str, Any]) -> None:
    res = rec["search"]["result"]
    doc.h("Face model, evidence model and measured accuracy", 1)
    space = res.get("embedding_space") or {}
    doc.h("Face model (embedding space)", 2)
    doc.fields(sorted(space.items()))
    em = rec["evidence_model"]
    doc.h("Evidence model", 2)
    if em is None:
        doc.p("No evidence model was used (investigation mode or none on record).", warning=True)
        return
    prov = em["provenance"]
    val = em.get("validation") or {}
    lr = val.get("likelihood_ratio") or {}
    doc.fields(
        [
            (
                "Stored evidence model",
                f"#{em['id']} ({em['source']}), SHA-256 {em['payload_sha256']}"
                if em.get("id") is not None
                else f"the shipped model, file {em.get('file')}, SHA-256 {em['payload_sha256']}",
            ),
            ("Measured on", prov.get("dataset")),
            ("Command", prov.get("command")),
            ("Software version", prov.get("software_version")),
            ("Held-out Cllr / Cllr-min", f"{lr.get('cllr')} / {lr.get('cllr_min')}"),
        ]
    )
    if "fmr_at_threshold" in em:
        f = em["fmr_at_threshold"]
        doc.p(
            f"False match rate at this search's threshold ({rec['search']['threshold']:.4f}): "
            f"{_rate(f['fmr'])} overall (95 % interval {interval_words(*f['ci95'])})."
        )
        groups = em["groups_at_threshold"]
        if groups:
            w = groups[0]
            if w.get("informative", True) and not w["fmr"]:  # zero reads "at most"
                rate = (
                    f"no comparison of different people within the group reached it: a false "
                    f"match rate of at most {rate_words(w['ci95'][1])} (95 % upper bound, "
                    f"{w['comparisons']:,} comparisons)"
                )
            elif w.get("informative", True):
                rate = (
                    f"false match rate {_rate(w['fmr'])} (95 % interval up to "
                    f"{rate_words(w['ci95'][1])}, "
                    f"{w['comparisons']:,} comparisons of different people within the group)"
                )
            else:
                rate = (
                    f"its false match rate is not measured well enough to be given as a figure "
                    f"({w['comparisons']:,} comparisons of different people within the group "
                    f"cannot show that it is below 1 %)"
                )
            doc.p(
                f"The group whose false match rate may be highest at this threshold (the "
                f"highest 95 % upper bound): {w['group']}, {rate}.",
                warning=True,
            )
            doc.table(
                ["Group", "False match rate at threshold", "95 % interval", "Comparisons"],
                [
                    [
                        g["group"],
                        _rate(g["fmr"]) if g.get("informative", True) else "not measured well",
                        interval_words(*g["ci95"])
                        if g.get("informative", True)
                        else "too wide to give (reaches above 1 %)",
                        f"{g['comparisons']:,}",
                    ]
                    for g in groups
                ],
                (2.5, 1.5, 2, 1.2),
            )
    fpir = val.get("fpir") or []
    if fpir:
        doc.h("Open-set validation on held-out people", 2)
        doc.table(
            ["Gallery size", "Target FPIR", "Threshold", "Predicted FPIR", "Measured FPIR"],
            [
                [
                    r.get("gallery_size"),
                    r.get("target_fpir"),
                    r.get("threshold"),
                    r.get("predicted_fpir"),
                    r.get("measured_fpir"),
                ]
                for r in fpir
            ],
        )
    if rec["accuracy_records"]:
        doc.h("Accuracy records of this face model in this workspace", 2)
        doc.table(
            ["Record", "Protocol", "Measured", "Dataset", "Command"],
            [
                [r["id"], r["protocol"], r["created_at"], r["dataset"], r["command"]]
                for r in rec["accuracy_records"]
            ],
        )
