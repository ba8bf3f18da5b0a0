"""One Settings class, built at the entry point and passed down (never a global).

Precedence, highest first: explicit overrides from the caller (e.g. CLI options),
``LEADGUARD_*`` environment variables, the workspace's ``leadguard.toml``, defaults
(``load_settings`` does the merging).
"""

from __future__ import annotations

import ipaddress
import os
import tomllib
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, ValidationError, field_validator
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from leadguard.core.errors import WorkspaceError

SETTINGS_FILE = "leadguard.toml"
# The face model of a new workspace, written into its settings file at creation, and why.
DEFAULT_FACE_MODEL = "sface"
DEFAULT_FACE_MODEL_REASON = (
    "more accurate than dlib-resnet on LFW View 2, BLUFR and worst-group FMR, with an "
    "evaluation and quality policy shipped for its space (docs/models.md)"
)
# A settings file that names no face model was written before SFace became the default:
# that workspace keeps the model its gallery was enrolled with.
LEGACY_FACE_MODEL = "dlib-resnet"
SHARED_LFW = Path("../shared/datasets/lfw")


class Settings(BaseSettings):
    """LeadGuard settings. Every field can be set in ``leadguard.toml`` or as LEADGUARD_<NAME>."""

    model_config = SettingsConfigDict(env_prefix="LEADGUARD_", extra="forbid")

    # --- face pipeline (every one of these is part of the embedding space) ---
    face_model: str = Field(
        default_factory=lambda: DEFAULT_FACE_MODEL,
        description="Face model backend by registered name ('sface', 'dlib-resnet', plug-ins; "
        "leadguard models list). Open-set search needs its accepted evaluation (docs/models.md). "
        "Written at creation; a settings file without it means 'dlib-resnet' (older workspaces).",
    )
    sface_mirror: bool = Field(
        False, description="SFace only: average the templates of the chip and its mirror image."
    )
    sface_batch: int = Field(
        1,
        ge=1,
        le=64,
        description="SFace only: aligned chips per ONNX Runtime run when a worker embeds "
        "several images at once (the templates do not depend on it; docs/performance.md).",
    )
    detector_upsample: int = Field(
        1, ge=0, le=3, description="HOG detector upsampling passes (finds smaller faces, slower)."
    )
    detector_fallback_adjust: float = Field(
        -0.5,
        le=0.0,
        description=(
            "When the detector finds no face, look again with this (negative) dlib "
            "adjust_threshold; 0 = no second pass. Measured in docs/accuracy.md."
        ),
    )
    landmarks: Literal["68", "5"] = Field(
        "68", description="dlib landmark model used to align the face: 68- or 5-point."
    )
    chip_size: int = Field(150, description="Aligned face chip size in pixels (dlib ResNet: 150).")
    chip_padding: float = Field(
        0.25, ge=0.0, le=1.0, description="Padding around the aligned face chip."
    )
    mirror: bool = Field(
        True,
        description=(
            "Average the descriptors of the chip and its mirror image (2x descriptor cost)."
        ),
    )

    # --- input acceptance ---
    min_face_size: int = Field(
        40,
        ge=1,
        description=(
            "Smallest face box side in pixels that may be enrolled or searched. Provisional "
            "until the quality gate's measurements set it."
        ),
    )
    multiple_faces: Literal["reject", "central"] = Field(
        "reject",
        description=(
            "Enrollment of an image with several faces: 'reject' it, or take the face whose box "
            "contains the image centre ('central', the convention of centred datasets like LFW)."
        ),
    )
    max_image_pixels: int = Field(
        50_000_000, ge=1, description="Refuse images with more pixels (decompression bombs)."
    )
    max_image_bytes: int = Field(
        64 * 1024 * 1024, ge=1, description="Refuse image files larger than this many bytes."
    )

    # --- enrollment ---
    source_roots: list[Path] = Field(
        [],
        description="Folders that enrollment manifests and folders may point into besides "
        "their own folder; any other path (../.., absolute, a link elsewhere) is refused. "
        "`settings set source_roots /data/a:/data/b` (separated by ':').",
    )
    workers: int = Field(0, ge=0, description="Worker processes for enrollment; 0 = all cores.")
    commit_every: int = Field(
        64, ge=1, description="Enrollment commits to the database after this many images."
    )

    # --- search ---
    top_k: int = Field(
        10,
        ge=1,
        le=10_000,
        description="Most candidates an open-set list shows (above the threshold).",
    )
    target_fpir: float = Field(
        0.01,
        ge=1e-6,
        le=0.1,
        description="Open-set threshold: the share of searches for people not enrolled that "
        "may return anyone (1e-6 to 0.1: above a tenth, a list of strangers would be the "
        "normal answer); the score threshold is read from the evidence model for the "
        "gallery size searched.",
    )
    worst_group_threshold: bool = Field(
        True,
        description="Raise the open-set threshold until the worst adequately measured "
        "demographic group's false match rate is no higher than the average's (docs/evidence.md).",
    )
    investigation_length: int = Field(
        50, ge=1, le=10_000, description="Length of an investigation-mode list (no threshold)."
    )
    max_candidates: int = Field(
        50, ge=1, le=10_000, description="Cap on candidate list length, whatever is asked for."
    )

    # --- database (read only from the workspace's own settings file: docs/postgres.md) ---
    database_url: str = Field(
        "",
        description="Database of this workspace: empty = its own SQLite file (leadguard.db); "
        "or postgresql://user@host/dbname (password in ~/.pgpass, never here). Set by "
        "`leadguard init --database-url` (or LEADGUARD_DATABASE_URL at init only).",
    )

    # --- audit (read only from the workspace's own settings file: docs/audit.md) ---
    audit_mac_key: Path | None = Field(
        None,
        description="The audit key's file (absolute path, outside the workspace, mode 0600): "
        "every new audit entry gets an authentication code under it. Written by `leadguard "
        "init` (a new key in ~/.local/share/leadguard/audit-keys/, unless --audit-key FILE "
        "or --no-audit-key) or `leadguard audit key`; once a log is keyed, a process "
        "without the key cannot write to it.",
    )

    # --- vector index ---
    index_backend: Literal["faiss-flat", "compressed", "milvus"] = Field(
        "compressed",
        description="Vector index: compressed (exact: a 5-bit scan with error bounds, then "
        "exact scores of what can matter; 5-7x faster than a plain scan), faiss-flat (exact "
        "FAISS scan) or milvus (docs/scale.md).",
    )
    milvus_uri: str = Field(
        "",
        description="Milvus server for index_backend = milvus (e.g. http://host:19530); "
        "empty = a local milvus-lite file in the workspace's index folder.",
    )

    # --- quality gate ---
    quality_policy: Path | None = Field(
        None,
        description="Quality gate policy (TOML: refusal floors, warning bands, prohibited "
        "probe kinds); default: the policy LeadGuard ships, derived from measured error "
        "(docs/quality.md). A relative path is read from the workspace folder.",
    )

    casework_policy: Path | None = Field(
        None,
        description="Casework policy (TOML: eligible offences, approval, examiners, "
        "corroboration); default: the shipped policy, after the Detroit settlement.",
    )

    # --- accounts and safeguards ---
    allow_unprotected: bool = Field(
        True,
        description="Allow searches in a workspace with no accounts (evaluation, demo); each "
        "says it is unprotected. false: a search needs accounts and an approved request.",
    )
    session_hours: float = Field(
        8.0, gt=0.0, le=24.0, description="Hours a login token (`leadguard login`) stays valid."
    )
    login_attempts: int = Field(
        5, ge=1, description="Failed logins before the account is locked (then backoff doubles)."
    )
    trusted_proxies: list[str] = Field(
        [],
        description="Addresses or networks (10.0.0.5, 10.0.0.0/24) of reverse proxies whose "
        "X-Forwarded-For `leadguard serve` believes for its per-address login limit; empty = "
        "none (the connecting address is the client).",
    )

    server_compute_slots: int = Field(
        0,
        ge=0,
        description="How many expensive requests (search, preview, request filing) "
        "`leadguard serve` decodes, measures and embeds at once, each with its own loaded face "
        "model; 0 = one per CPU core. Everything else (GET /api/me, pages, reads) never waits "
        "for these.",
    )
    server_compute_queue: int = Field(
        8,
        ge=0,
        description="Expensive requests that may wait for a compute slot; beyond that the "
        "server answers 503 ServerBusy with Retry-After instead of queueing without bound.",
    )
    expensive_per_user: int = Field(
        30,
        ge=1,
        description="Expensive requests (search, preview, request filing) one user may make "
        "per minute; beyond that 429 RateLimited with rule `per_user_limit` (audited).",
    )
    expensive_per_address: int = Field(
        60,
        ge=1,
        description="Expensive requests per minute from one client address (X-Forwarded-For "
        "believed only from trusted_proxies); beyond that 429 with rule `per_address_limit`.",
    )
    max_form_bytes: int = Field(
        1024 * 1024,
        ge=1024,
        description="What a request body may hold beyond max_image_bytes (form fields, "
        "multipart boundaries); a larger Content-Length is refused 413 before the body is "
        "read, and a body without one is counted and refused as soon as it passes the limit.",
    )

    @field_validator("source_roots", mode="before")
    @classmethod
    def _roots(cls, value: Any) -> Any:
        if isinstance(value, str):  # `settings set source_roots /data/a:/data/b` (or JSON)
            if value.strip().startswith("["):
                import json

                return json.loads(value)
            return [v for v in value.split(os.pathsep) if v.strip()]
        return value

    @field_validator("trusted_proxies", mode="before")
    @classmethod
    def _networks(cls, value: Any) -> Any:
        if isinstance(value, str):  # `settings set trusted_proxies 10.0.0.5,10.0.0.0/24`
            value = [v.strip() for v in value.split(",") if v.strip()]
        for item in value if isinstance(value, list) else ():
            try:
                ipaddress.ip_network(item, strict=False)
            except (TypeError, ValueError):
                raise ValueError(
                    f"trusted_proxies: {item!r} is not an IP address or network"
                ) from None
        return value

    # --- display ---
    time_zone: str = Field(
        "UTC",
        description="IANA time zone (Europe/London, America/Chicago) in which the web pages "
        "show times, to the second and with the zone; stored times stay UTC.",
    )

    @field_validator("time_zone")
    @classmethod
    def _zone(cls, value: str) -> str:
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"time_zone: {value!r} is not an IANA time zone name") from None
        return value

    # --- demo ---
    gallery_source: Path | None = Field(
        None,
        description="Folder or manifest that the demo enrolls; default ../shared/datasets/lfw.",
    )

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # load_settings() merges file < environment < overrides into the init kwargs.
        return (init_settings, env_settings)

    def effective_workers(self) -> int:
        return self.workers or (os.cpu_count() or 1)

    def resolved_gallery_source(self) -> Path | None:
        if self.gallery_source is not None:
            return self.gallery_source
        return SHARED_LFW if SHARED_LFW.exists() else None


# Settings that govern safeguards: in a workspace with accounts they are read only from the
# workspace's settings file and changed only by an admin (`leadguard settings set`).
SAFEGUARDS = frozenset(
    {
        "casework_policy",
        "quality_policy",
        "target_fpir",
        "top_k",
        "max_candidates",
        "investigation_length",
        "min_face_size",
        "allow_unprotected",
        "session_hours",
        "login_attempts",
        "worst_group_threshold",
        "face_model",
        # part of the embedding space: enrolling with it on puts people in a space that
        # searches with it off do not read (nobody would be told they were left out)
        "sface_mirror",
        # which index answers a search, where it lives, and how hard the detector looks:
        # each changes what a search can find
        "index_backend",
        "milvus_uri",
        "detector_fallback_adjust",
        "detector_upsample",
        "trusted_proxies",
        # the limits on expensive requests and uploads: raising them from the environment
        # would open what they close (a 2 GB body waited for, a decompression bomb decoded)
        "expensive_per_user",
        "expensive_per_address",
        "max_form_bytes",
        "max_image_bytes",
        "max_image_pixels",
        "server_compute_queue",
        "server_compute_slots",
    }
)


# Settings read only from the workspace's settings file (or set by the caller), never from the
# environment: which database a workspace is (its accounts, audit log and gallery) must not be
# switched by whoever runs a command, since a database without accounts would disable them.
FILE_ONLY = frozenset({"database_url", "audit_mac_key"})


def safeguard_env_overrides() -> list[str]:
    """The LEADGUARD_<NAME> environment variables set for safeguard settings, in any case:
    pydantic-settings reads ``leadguard_session_hours`` as readily as the upper-case name."""
    names = {f"LEADGUARD_{k.upper()}" for k in SAFEGUARDS}
    return sorted(n for n in os.environ if n.upper() in names)


def read_settings_file(path: Path) -> dict[str, Any]:
    if not path.exists():
        return {}
    try:
        with path.open("rb") as fh:
            data = tomllib.load(fh)
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise WorkspaceError(f"{path}: cannot read settings file ({exc})") from exc
    section = data.get("leadguard", data)
    if not isinstance(section, dict):
        raise WorkspaceError(f"{path}: [leadguard] must be a table")
    return section


def load_settings(workspace: Path | None, **overrides: Any) -> Settings:
    """Build settings for a workspace: file < environment < explicit overrides."""
    file_values = read_settings_file(workspace / SETTINGS_FILE) if workspace else {}
    if workspace and (workspace / SETTINGS_FILE).exists() and "face_model" not in file_values:
        file_values = {**file_values, "face_model": LEGACY_FACE_MODEL}
    clean = {k: v for k, v in overrides.items() if v is not None}
    try:
        from_env = Settings()  # environment over defaults; model_fields_set = what env set
        env_values = {
            k: getattr(from_env, k) for k in from_env.model_fields_set if k not in FILE_ONLY
        }
        file_only = {k: Settings.model_fields[k].default for k in FILE_ONLY}  # not the env's
        return Settings(**{**file_only, **file_values, **env_values, **clean})
    except ValidationError as exc:
        raise WorkspaceError(f"invalid settings: {settings_problems(exc)}") from None
    except ValueError as exc:
        raise WorkspaceError(f"invalid settings: {exc}") from exc


def settings_problems(exc: ValidationError) -> str:
    """A settings validation error in one line a person reads: each setting, what is wrong,
    the value given (not pydantic's multi-line text with its web address)."""
    return "; ".join(
        f"{'.'.join(str(p) for p in e['loc']) or 'settings'}: {e['msg']}"
        + (f" (given {e['input']!r})" if "input" in e and not isinstance(e["input"], dict) else "")
        for e in exc.errors()
    )


def default_settings_toml(face_model: str | None = None) -> str:
    """The settings file written by ``leadguard init``: every setting commented out at its
    default except ``face_model``, which records the model the workspace is created with."""
    lines = [
        "# LeadGuard workspace settings. Environment variables LEADGUARD_<NAME> override.",
        "[leadguard]",
    ]
    for name, info in Settings.model_fields.items():
        if name == "gallery_source":
            continue
        lines.append(f"# {info.description}")
        if name == "face_model":
            lines.append(f'face_model = "{face_model or DEFAULT_FACE_MODEL}"')
            continue
        value = info.default
        if isinstance(value, bool):
            rendered = "true" if value else "false"
        elif isinstance(value, str):
            rendered = f'"{value}"'
        else:
            rendered = str(value)
        lines.append(f"# {name} = {rendered}")
    return "\n".join(lines) + "\n"


def setting_default(name: str) -> Any:
    """A setting's default value (its factory's, where it has one)."""
    field = Settings.model_fields[name]
    return field.default_factory() if field.default_factory else field.default  # type: ignore[call-arg]


def settings_reference() -> str:
    """docs/settings.md: every setting with its default, where it may be set and what it does
    (tests/unit/test_settings_reference.py keeps the file equal to this)."""
    lines = [
        "# Settings",
        "",
        "Every setting of a workspace, from `leadguard.core.config.Settings`. Each is read from",
        "the workspace's `leadguard.toml` (under `[leadguard]`); `LEADGUARD_<NAME>` in the",
        "environment overrides the file, and a command's own option both. **Safeguard** settings",
        "are read only from the settings file in a workspace with accounts and are changed by",
        "an administrator (`leadguard settings set NAME VALUE`, audited); **file only**",
        "settings are never read from the environment.",
        "",
        "Regenerate after changing a setting:",
        "`python -c 'from leadguard.core.config import settings_reference as r; "
        'print(r(), end="")\' > docs/settings.md`',
        "",
        "| setting | default | where | what it does |",
        "|---|---|---|---|",
    ]
    for name, field in Settings.model_fields.items():
        default = setting_default(name)
        shown = "(none)" if default in (None, "", []) else str(default)
        where = "safeguard" if name in SAFEGUARDS else "file only" if name in FILE_ONLY else "any"
        what = " ".join((field.description or "").split()).replace("|", "\\|")
        lines.append(f"| `{name}` | `{shown}` | {where} | {what} |")
    return "\n".join(lines) + "\n"
