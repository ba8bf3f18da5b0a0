"""The statement checker: every statement a list or report prints, read back and checked
against the numbers behind it (used by test_statement_check.py; extend it here).

What it checks, on any rendering (CLI text, API or CLI JSON, the lead report's PDF text or
HTML text):

- one worst group per document: every place that names the group whose false match rate
  may be highest names the same one;
- rank-correct wording: "the highest of N" only in rank 1's statements; rank k > 1 says
  how many people on the list scored higher;
- no vacuous bound printed as a figure: an upper bound above ``VACUOUS`` that is more than
  ten times its own estimate says nothing, and must be said in words, not printed;
- no "match" word beyond "false match rate" (a search returns candidates, never a match);

and, on the JSON (the numbers themselves):

- the rates stated match the evidence model's record at the candidate's score: the FMR at
  the score, the worst group's and every recorded group's;
- a candidate's own group figures are its own recorded groups, never another's, and a
  group of another sex is never given to a candidate as "the worst group" figures;
- a likelihood ratio is shown only where both people's groups are recorded and validated.
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass, field
from typing import Any

from leadguard.evidence.chance import interval_words, rate_words
from leadguard.evidence.groups import subject_groups
from leadguard.evidence.lr_validity import shown_lr_groups
from leadguard.evidence.model import EvidenceModel
from leadguard.evidence.statements import group_sex

VACUOUS = 0.01  # an upper bound above 1 % that is ten times its estimate carries no information
WORST_NAMED = (
    re.compile(r"may be highest on this list \(([^,()]+)[,)]"),
    re.compile(r"may be highest at this threshold \(the highest 95 % upper bound\): ([^,]+),"),
)
MATCH = re.compile(r"\bmatch(es|ed|ing)?\b", re.IGNORECASE)
ALLOWED_MATCH = re.compile(
    r"false[ -]match(es)? rates?|non-?match(ed)?|never a match|not a match", re.IGNORECASE
)


@dataclass
class Findings:
    """What one document got wrong; empty means every statement held."""

    where: str
    problems: list[str] = field(default_factory=list)

    def add(self, text: str) -> None:
        self.problems.append(f"{self.where}: {text}")


def flat(text: str) -> str:
    """Text as a reader meets it: one space between words (PDF lines rejoined)."""
    return " ".join(text.split())


def html_text(page: str) -> str:
    page = re.sub(r"(?is)<(script|style)\b.*?</\1>", " ", page)
    return flat(html.unescape(re.sub(r"<[^>]+>", " ", page)))


def vacuous(point: float, upper: float, lower: float) -> bool:
    """An interval above 1 % whose ends differ by more than a factor 5 (docs/evidence.md)."""
    return upper > VACUOUS and upper > 5 * lower


def worst_groups_named(text: str) -> set[str]:
    return {m.strip() for rx in WORST_NAMED for m in rx.findall(flat(text))}


def check_words(text: str, f: Findings) -> None:
    """Checks that need only the words: one worst group, no "match" verdict."""
    named = worst_groups_named(text)
    if len(named) > 1:
        f.add(f"names {len(named)} different worst groups: {sorted(named)}")
    stripped = ALLOWED_MATCH.sub("", flat(text))
    for m in MATCH.finditer(stripped):
        a = max(0, m.start() - 60)
        f.add(f"uses the word {m.group(0)!r}: ...{stripped[a : m.end() + 40]}...")


def check_rank_words(rank: int, statements: list[str], f: Findings) -> None:
    text = " ".join(statements)
    if rank != 1 and "highest of" in text:
        f.add(f"rank {rank} is called the highest")
    if rank == 1 and "ranked 1" in text:
        f.add("rank 1 says it is ranked below others")
    if rank > 1 and f"ranked {rank}:" not in text:
        f.add(f"rank {rank} does not say how many scored higher")


def _vacuous_figures(ev: dict[str, Any]) -> list[float]:
    """The upper bounds of this candidate's rates that carry no information."""
    out = []
    blocks = [ev, *([ev["worst_group"]] if ev.get("worst_group") else [])]
    for b in blocks:
        lo_hi = b.get("false_match_rate_ci95")
        if lo_hi and vacuous(b["false_match_rate"], lo_hi[1], lo_hi[0]):
            # the bound says nothing, nor does what follows from it for the gallery
            out += [lo_hi[1], b["p_at_least_one_innocent_upper"]]
    for g in ev.get("recorded_groups") or []:
        ci = g.get("false_match_rate_ci95")
        if ci and vacuous(g["false_match_rate"], ci[1], ci[0]):
            out.append(ci[1])
    return out


def _printed(rate: float, text: str) -> bool:
    words = {rate_words(rate), f"{rate:.1%}"}
    words |= {w for w in (f"{rate:.3g}", f"{rate:.2g}") if "." in w}  # "1" alone is no figure
    return any(re.search(rf"(?<![\d.]){re.escape(w)}(?![\d])", text) for w in words)


def check_candidate(
    model: EvidenceModel,
    cand: dict[str, Any],
    recorded: tuple[str | None, str | None],
    probe_groups: tuple[str, ...],
    f: Findings,
) -> None:
    """One candidate of a JSON list against the evidence model and its recorded groups."""
    ev = cand.get("evidence")
    if not ev:
        return
    rank, score = int(cand["rank"]), float(cand["score"])
    statements = ev.get("statements") or []
    text = " ".join(statements)
    check_rank_words(rank, statements, f)
    check_words(text, f)
    at = model.fmr(score)
    if (
        ev["nonmated_comparisons_at_or_above"] != at.count
        or abs(ev["false_match_rate"] - at.fmr) > 1e-12
    ):
        f.add(f"rank {rank}: FMR {ev['false_match_rate']} is not the record's {at.fmr}")
    own = subject_groups(*recorded)
    stated_own = tuple(g["group"] for g in ev["recorded_groups"] if g["role"] == "candidate")
    if stated_own != own:
        f.add(f"rank {rank}: candidate's groups stated {stated_own}, recorded {own}")
    stated_probe = tuple(g["group"] for g in ev["recorded_groups"] if g["role"] == "probe")
    if stated_probe != probe_groups:
        f.add(f"rank {rank}: probe's groups stated {stated_probe}, recorded {probe_groups}")
    for g in ev["recorded_groups"]:
        st = model.group_standing(g["group"], score)
        if st.fmr is not None and abs((g["false_match_rate"] or 0.0) - st.fmr.fmr) > 1e-12:
            f.add(
                f"rank {rank}: {g['group']} FMR stated {g['false_match_rate']}, record {st.fmr.fmr}"
            )
    w = ev.get("worst_group")
    if w is not None:
        st = model.group_standing(w["group"], score)
        if st.fmr is None or abs(w["false_match_rate"] - st.fmr.fmr) > 1e-12:
            f.add(f"rank {rank}: worst group {w['group']} FMR is not the record's")
        ws = group_sex(w["group"])
        sexes = {group_sex(g) for g in own} - {None}
        if ws is not None and sexes and ws not in sexes:
            f.add(f"rank {rank}: given the figures of {w['group']}, another sex's group")
    for u in _vacuous_figures(ev):
        if _printed(u, text):
            f.add(f"rank {rank}: prints the uninformative bound {rate_words(u)} as a figure")
    _, why = shown_lr_groups(model, probe_groups, own)
    shown = ev.get("log10_likelihood_ratio") is not None
    if shown and why:
        f.add(f"rank {rank}: shows a likelihood ratio where none is validated ({why})")
    if not shown and "Likelihood ratio: none shown, because" not in text:
        f.add(f"rank {rank}: no likelihood ratio and no reason")


def check_list_json(
    model: EvidenceModel,
    data: dict[str, Any],
    recorded: dict[str, tuple[str | None, str | None]],
    probe_groups: tuple[str, ...],
    where: str,
) -> Findings:
    """A candidate list as JSON (CLI --json or the API). ``recorded``: subject -> (sex, race)."""
    f = Findings(where)
    cands = data.get("candidates") or []
    every = " ".join(" ".join((c.get("evidence") or {}).get("statements") or []) for c in cands)
    named = worst_groups_named(every) | {
        w["group"] for c in cands if (w := (c.get("evidence") or {}).get("worst_group"))
    }
    named |= {
        x
        for c in cands
        if (x := (c.get("evidence") or {}).get("worst_group_not_applicable_to_candidate"))
    }
    if len(named) > 1:
        f.add(f"the list names {len(named)} worst groups: {sorted(named)}")
    for c in cands:
        check_candidate(model, c, recorded.get(c["subject"], (None, None)), probe_groups, f)
    check_words(" ".join(data.get("notices") or []), f)
    return f


def check_document(
    text: str, data: dict[str, Any], where: str, groups: list[dict[str, Any]] | None = None
) -> Findings:
    """A rendering (CLI text, PDF text, HTML text) of the list ``data``: its words, the same
    worst group as the list names, and no uninformative bound printed, neither a candidate's
    nor one of ``groups`` (the lead report's per-group table: group, fmr, ci95)."""
    f = Findings(where)
    check_words(text, f)
    named = worst_groups_named(text)
    cands = data.get("candidates") or []
    listed = {w["group"] for c in cands if (w := (c.get("evidence") or {}).get("worst_group"))}
    if listed and named and named != listed:
        f.add(f"names worst group {sorted(named)}, the list {sorted(listed)}")
    body = flat(text)
    for c in cands:
        for u in sorted(set(_vacuous_figures(c.get("evidence") or {}))):
            if _printed(u, body):
                f.add(f"rank {c['rank']}: prints the uninformative bound {rate_words(u)}")
    for g in groups or []:
        if vacuous(g["fmr"], g["ci95"][1], g["ci95"][0]) and interval_words(*g["ci95"]) in body:
            f.add(f"prints {g['group']}'s uninformative bound {rate_words(g['ci95'][1])}")
    named_first = (groups or [{}])[0].get("group")
    if groups and named and named != {named_first}:
        f.add(f"names {sorted(named)} as worst, its group table ranks {named_first} first")
    return f
