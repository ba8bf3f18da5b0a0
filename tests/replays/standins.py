"""Stand-in faces from LFW for a replay, and the probe degraded as the case describes it.

Per scenario two variants share one small gallery: in the *real* variant the culprit is
not enrolled and an innocent person of the described sex is; in the *worst* variant another
photo of the probe's own person is enrolled under the innocent's name, so the face search
works perfectly against the process and only the non-face facts can stop the chain.
Fillers (people of both sexes) make the gallery a gallery. People are drawn in a fixed,
seeded order; images are read where they are and degraded in memory."""

from __future__ import annotations

import csv
import io
import random
import re
from collections import defaultdict
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageEnhance, ImageFilter

from tests.replays.scenarios import Scenario

LFW = Path(__file__).resolve().parents[2].parent / "shared" / "datasets" / "lfw"
FILLERS_PER_SEX = 12
RACE = {"black": "african", "white": "caucasian", "asian": "eastasian"}


@dataclass(frozen=True)
class Person:
    name: str
    photos: tuple[Path, ...]
    sex: str
    race: str


@dataclass(frozen=True)
class Cast:
    """Who plays whom in one variant of one scenario."""

    scenario: str
    variant: str  # "real" | "worst"
    culprit: Person  # whose photo is the probe
    innocent: str  # the enrolled subject id the chain goes after
    innocent_photo: Path  # the innocent's enrolled photo (the strongest forced probe)
    encounter: date | None  # the enrolled photo's date, where the case says how old it was


@dataclass
class Gallery:
    rows: list[tuple[Path, str, str, str, str]]  # path, subject id, encounter, sex, race
    casts: dict[tuple[str, str], Cast]


def people() -> dict[str, Person]:
    by: dict[str, list[dict[str, str]]] = defaultdict(list)
    with (LFW / "manifest.csv").open() as fh:
        for r in csv.DictReader(fh):
            by[r["identity"]].append(r)
    out = {}
    for name, rows in sorted(by.items()):
        if len(rows) >= 3 and rows[0]["sex"] in ("M", "F"):
            photos = tuple(sorted(LFW / r["path"] for r in rows))
            out[name] = Person(name, photos, rows[0]["sex"], rows[0]["race"])
    return out


def _photo_age(scenario: Scenario) -> int | None:
    m = re.search(r"(\d+)\s*years? old", str(scenario.facts.get("returned", "")))
    return int(m.group(1)) if m else None


def incident(scenario: Scenario) -> date:
    text = str(scenario.facts.get("incident_date", ""))
    parts = [int(p) for p in re.findall(r"\d+", text)] + [1, 1]
    return date(parts[0], parts[1], parts[2] if len(parts) > 3 else 1)


def build_gallery(scenarios: list[Scenario], seed: int = 0) -> Gallery:
    pool = people()
    rng = random.Random(seed)
    used: set[str] = set()

    def draw(sex: str | None, race: str | None) -> Person:
        fits = [p for p in pool.values() if p.name not in used and (sex is None or p.sex == sex)]
        exact = [p for p in fits if race and p.race == race]  # LFW's labels are weak
        wanted = exact or [p for p in fits if race and race in p.race.split("|")] or fits
        person = rng.choice(sorted(wanted, key=lambda p: p.name))
        used.add(person.name)
        return person

    rows: list[tuple[Path, str, str, str, str]] = []
    casts = {}
    for sc in scenarios:
        race = RACE.get(str((sc.facts.get("attributes") or {}).get("race", "")).lower())
        age = _photo_age(sc)
        when = incident(sc)
        encounter = date(when.year - age, when.month, 1) if age else None
        enc = encounter.isoformat() if encounter else ""
        for variant in ("real", "worst"):
            culprit = draw(sc.sex, race)
            sid = f"{sc.id}-{variant}-candidate"
            if variant == "real":
                innocent = draw(sc.sex, race)
                photo = innocent.photos[0]
                rows.append((photo, sid, enc, innocent.sex, innocent.race))
            else:  # another photo of the probe's own person, enrolled as the "innocent"
                photo = culprit.photos[1]
                rows.append((photo, sid, enc, culprit.sex, culprit.race))
            casts[(sc.id, variant)] = Cast(sc.id, variant, culprit, sid, photo, encounter)
    for sex in ("M", "F"):
        for _ in range(FILLERS_PER_SEX):
            p = draw(sex, None)
            rows.append((p.photos[0], p.name, "", p.sex, p.race))
    return Gallery(rows, casts)


def write_manifest(path: Path, gallery: Gallery) -> Path:
    with path.open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["path", "subject_id", "encounter_date", "sex", "race"])
        for p, sid, enc, sex, race in gallery.rows:
            w.writerow([str(p), sid, enc, sex, race])
    return path


# --- the probe as the case describes it -------------------------------------------------


def degradations(scenario: Scenario) -> list[str]:
    """Degradations read from the case's words: the probe's description, its source type,
    what the person sought wore."""
    text = " ".join(
        [
            str(scenario.facts.get("probe", "")),
            str(scenario.facts.get("source_type", "")),
        ]
    ).lower()
    attrs = " ".join(str(v) for v in (scenario.facts.get("attributes") or {}).values()).lower()
    out = []
    if re.search(r"surveillance|store video|cctv|camera", text):
        out.append("cctv")  # down-scaled and compressed
    if re.search(r"video|frame", text) and "cctv" not in out:
        out.append("video")
    if re.search(r"low[- ]quality|grainy", text):
        out.append("low_quality")
    if re.search(r"blur", text):
        out.append("blur")
    if re.search(r"poorly lit|dark|night", text):
        out.append("dark")
    if re.search(r"\b(id|card|licen[cs]e|print)\b", text):
        out.append("print")
    if re.search(r"off-angle|tilt|angle", text):
        out.append("tilt")
    if re.search(r"\b(cap|hat|hood|mask|sunglasses)\b", attrs):
        out.append("occlusion")
    return out


def face_crop(src: Path) -> Image.Image:
    """The central 150 x 150 px of a (deep-funneled, 250 px) LFW photo: the face, without
    the bystanders at the edges of many press photos."""
    img = Image.open(src).convert("RGB")
    w, h = img.size
    side = round(min(w, h) * 0.6)
    left, top = (w - side) // 2, (h - side) // 2
    return img.crop((left, top, left + side, top + side))


def _jpeg(img: Image.Image, quality: int) -> Image.Image:
    buf = io.BytesIO()
    img.save(buf, format="JPEG", quality=quality)
    return Image.open(io.BytesIO(buf.getvalue())).convert("RGB")


def _scale(img: Image.Image, f: float) -> Image.Image:
    w, h = img.size
    return img.resize((max(8, round(w * f)), max(8, round(h * f))), Image.Resampling.BILINEAR)


def degrade(src: Path, kinds: list[str], strength: float, seed: int = 0) -> Image.Image:
    """``strength`` 1: as described; 0.5: milder (a forced, stronger stand-in)."""
    img = face_crop(src)
    rng = np.random.default_rng(seed)
    for k in kinds:
        if k == "cctv":
            img = _jpeg(_scale(img, 1 - 0.4 * strength), round(90 - 55 * strength))
        elif k == "video":
            img = _jpeg(_scale(img, 1 - 0.25 * strength), round(90 - 40 * strength))
        elif k == "low_quality":
            a = np.asarray(img, dtype=np.float64) + rng.normal(
                0, 8 * strength, (*img.size[::-1], 3)
            )
            img = _jpeg(
                Image.fromarray(np.clip(a, 0, 255).astype(np.uint8)), round(90 - 60 * strength)
            )
        elif k == "blur":
            img = img.filter(ImageFilter.GaussianBlur(1.8 * strength))
        elif k == "dark":
            img = ImageEnhance.Brightness(img).enhance(1 - 0.55 * strength)
        elif k == "print":
            img = _jpeg(
                img.filter(ImageFilter.GaussianBlur(1.0 * strength)), round(90 - 45 * strength)
            )
        elif k == "tilt":
            img = img.rotate(15 * strength, resample=Image.Resampling.BICUBIC)
        elif k == "occlusion":  # a cap's brim over the forehead and brows
            w, h = img.size
            draw = ImageDraw.Draw(img)
            draw.rectangle((0, 0, w, round(h * (0.28 + 0.08 * strength))), fill=(30, 30, 35))
    return img


def write_probe(img: Image.Image, path: Path) -> Path:
    img.save(path, format="PNG")
    return path
