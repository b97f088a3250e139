"""Locate the CUR deliveries in a source: which files make up each billing period.

Four layouts are recognised, in a local folder or under an S3 prefix (``s3://bucket/prefix``:
``pipelines.s3`` mirrors the listing locally, so the same rules apply to both):

- legacy CUR CSV in AWS's delivery layout, where each billing period's manifest
  (``<report>/<YYYYMMDD-YYYYMMDD>/<report>-Manifest.json``) names the current assembly's
  files. Older assemblies of a re-delivered month stay in the bucket and are ignored;
- CUR 2.0 from AWS Data Exports (``<export>/data/BILLING_PERIOD=YYYY-MM/*.parquet`` or
  ``*.csv.gz``). When the period's metadata manifest
  (``<export>/metadata/BILLING_PERIOD=YYYY-MM/<export>-Manifest.json``) is there, exactly the
  files its ``dataFiles`` name are read: an overwrite-mode export replaces its files in place,
  and anything else in the folder is not part of the current execution. Without a manifest,
  every data file of the period's folder is;
- legacy CUR Parquet in the Athena layout (``.../year=YYYY/month=MM/*.parquet``);
- loose CUR files (CSV, CSV.gz, CSV.zip or Parquet) with no manifest, each placed in the
  billing period given by its own ``bill/BillingPeriodStartDate``; a FOCUS file likewise by
  its first AWS row's ``BillingPeriodStart`` (``pipelines.focus``: one period per file).
  A legacy period folder holding several assembly folders and no manifest is refused: which
  assembly is current cannot be told, and all of them would count the month several times.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
from collections import defaultdict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

from pipelines import focus
from pipelines.errors import ConfigError, FinopsError, InputError
from pipelines.readers import file_kind, read_batches, source_columns

if TYPE_CHECKING:
    from pipelines.s3 import Mirror, S3Settings

log = logging.getLogger(__name__)

_PERIOD_FOLDER = re.compile(r"^(\d{4})(\d{2})01-(\d{8})$")
_CUR2_PERIOD = re.compile(r"^BILLING_PERIOD=(\d{4})-(\d{2})$")
_ATHENA_MONTH = re.compile(r"year=(\d{4})/month=(\d{1,2})(?:/|$)")
_DATA_SUFFIXES = (".csv", ".csv.gz", ".csv.zip", ".gz", ".zip", ".parquet")
# Files that AWS's Athena integration writes next to the CUR data but that hold no line items.
_NOT_LINE_ITEMS = ("cost_and_usage_data_status",)

#: ``--format``: which layout to look for instead of detecting it (auto).
FORMATS = ("auto", "legacy-csv", "legacy-parquet", "cur2", "focus")
# The layouts each format may arrive in. A FOCUS export from AWS Data Exports has the
# CUR 2.0 folder layout; a FOCUS file from another tool is a loose file.
_LAYOUTS = {
    "legacy-csv": ("legacy_csv_manifest", "loose_files"),
    "legacy-parquet": ("athena_parquet", "loose_files"),
    "cur2": ("cur2_data_export",),
    "focus": ("cur2_data_export", "loose_files"),
}


@dataclass
class Delivery:
    """The files that make up one billing period in the source, and how to recognise them."""

    billing_period: str  # YYYY-MM
    layout: str  # legacy_csv_manifest | cur2_data_export | athena_parquet | loose_files
    files: list[Path]
    fingerprint: str
    assembly_id: str | None = None
    bytes: int = field(init=False)
    #: For an S3 source: the mirror whose placeholders ``files`` are (``pipelines.s3``).
    remote: Mirror | None = None
    #: What the source format was taken to be (``FORMATS``), checked file by file on reading.
    source_format: str = "auto"
    #: FOCUS or not, as the first file's header says; known once the files are opened.
    is_focus: bool | None = None

    def __post_init__(self) -> None:
        self.bytes = sum(path.stat().st_size for path in self.files)

    @property
    def names(self) -> list[str]:
        """The files as the user knows them: paths, or s3:// URLs."""
        if self.remote is None:
            return [str(path) for path in self.files]
        return [self.remote.url_of(path) for path in self.files]

    @property
    def format(self) -> str:
        """legacy-csv, legacy-parquet, cur2 or focus: the chosen one, else as detected."""
        if self.source_format != "auto":
            return self.source_format
        if self.is_focus:
            return "focus"
        if self.layout == "legacy_csv_manifest":
            return "legacy-csv"
        if self.layout == "athena_parquet":
            return "legacy-parquet"
        if self.layout == "cur2_data_export":
            return "cur2"
        kinds = {file_kind(path) for path in self.files}
        return "legacy-parquet" if kinds == {"parquet"} else "legacy-csv"

    @contextmanager
    def opened(self) -> Iterator[None]:
        """The files readable on the local disk while the block runs (S3: downloaded)."""
        if self.remote is None:
            self._check_format()
            yield
            return
        with self.remote.fetched(self.files):
            self._check_format()
            yield

    def _check_format(self) -> None:
        """Tell FOCUS from CUR by the header; with ``--format``, each file must be as told."""
        self.is_focus = focus.is_focus(source_columns(self.files[0]))
        if self.source_format == "auto":
            return
        wanted = self.source_format == "focus"
        for path in self.files:
            if focus.is_focus(source_columns(path)) != wanted:
                found = "a FOCUS file" if not wanted else "not a FOCUS file (no BilledCost, ...)"
                raise InputError(
                    str(path),
                    f"{found}, but --format {self.source_format} was given",
                    expected=f"{self.source_format} files, or --format auto",
                )


@dataclass
class Located:
    """What a source holds: its deliveries, oldest first, and the files that fit none."""

    deliveries: list[Delivery]
    failures: list[FinopsError] = field(default_factory=list)


def locate(
    source: str,
    *,
    source_format: str = "auto",
    scratch: Path | None = None,
    s3: S3Settings | None = None,
) -> Located:
    """Find every billing period in ``source`` (a folder, one file, or ``s3://bucket/prefix``).

    A loose file whose billing period cannot be read is a failure of its own, so that the
    other files are still read and every bad file is reported at once.

    Args:
        source: where the export is.
        source_format: ``auto`` detects the layout; another of ``FORMATS`` looks for that
            one only, and each file's header is checked against it when it is read.
        scratch: for an S3 source, a folder for the mirror of its listing (``pipelines.s3``).
        s3: for an S3 source, the AWS settings (profile, region, endpoint, role).

    Raises:
        ConfigError: the source does not exist or is not a supported location.
        InputError: a manifest is unreadable or names a file that is not there.
        SourceError: S3 refused the listing or a manifest (code and bucket or key named).
    """
    if source_format not in FORMATS:
        raise ConfigError(f"--format {source_format!r}: expected one of {', '.join(FORMATS)}")
    if source.startswith("s3://"):
        return _locate_s3(source, source_format, scratch, s3)
    located = _locate_local(source, source_format)
    for delivery in located.deliveries:
        delivery.source_format = source_format
    return located


def _locate_s3(
    source: str, source_format: str, scratch: Path | None, settings: S3Settings | None
) -> Located:
    """The local rules over a mirror of the S3 listing; fingerprints from ETags."""
    from pipelines import s3  # boto3 is imported only for S3 sources

    if scratch is None:
        raise ConfigError(f"{source}: an S3 source needs a scratch folder for its listing")
    mirror = s3.mirror(source, scratch, settings)
    local = mirror.local()
    if not _has_layout(local):
        # Loose files are placed in a billing period by their first row, so their bytes are
        # needed now; a source without a layout is a few files, not years of deliveries.
        mirror.fetch_all()
    with mirror.in_s3_terms():
        located = _locate_local(str(local), source_format)
    located.failures = [mirror.renamed(failure) for failure in located.failures]
    for delivery in located.deliveries:
        delivery.remote = mirror
        delivery.source_format = source_format
        delivery.fingerprint = s3.fingerprint(mirror, delivery.assembly_id, delivery.files)
    return located


def _has_layout(root: Path) -> bool:
    """A manifest, a Data Export period or an Athena month: detection needs no file's bytes."""
    if root.is_file():
        return root.name.endswith("-Manifest.json")
    folders = [root, *(path for path in root.rglob("*") if path.is_dir())]
    return any(
        _CUR2_PERIOD.match(folder.name)
        or _ATHENA_MONTH.search(folder.as_posix() + "/")
        or (_PERIOD_FOLDER.match(folder.name) and any(folder.glob("*-Manifest.json")))
        for folder in folders
    )


def _locate_local(source: str, source_format: str) -> Located:
    root = Path(source)
    if not root.exists():
        raise ConfigError(f"{source}: no such file or folder")

    located = Located([])
    if (
        root.is_file()
        and root.name.endswith("-Manifest.json")
        and _is_cur2_folder(root.resolve().parent, "metadata")
    ):
        period_folder = root.resolve().parent
        export = period_folder.parent.parent
        located.deliveries = [
            _cur2_delivery(export, period_folder.name, export / "data" / period_folder.name)
        ]
    elif root.is_file() and root.name.endswith("-Manifest.json"):
        located.deliveries = [_manifest_delivery(root)]
    elif root.is_file():
        _refuse_part_of_assembly(root)
        _refuse_part_of_export(root)
        located = _loose_files([root])
    else:
        located = _folder_deliveries(root, _LAYOUTS.get(source_format))
    if not located.deliveries and not located.failures:
        looked_for = (
            "<report>-Manifest.json, data/BILLING_PERIOD=YYYY-MM/, year=YYYY/month=MM/*.parquet, "
            "and .csv, .csv.gz, .csv.zip or .parquet files"
        )
        if source_format != "auto":
            looked_for = f"{source_format} only, as --format says"
        raise ConfigError(f"{source}: no CUR export found (looked for {looked_for})")
    allowed = _LAYOUTS.get(source_format)
    wrong = [d for d in located.deliveries if allowed and d.layout not in allowed]
    if wrong:
        raise ConfigError(
            f"{source}: holds a {wrong[0].layout} export, but --format {source_format} was given"
        )
    located.deliveries.sort(key=lambda delivery: delivery.billing_period)
    return located


def _folder_deliveries(root: Path, layouts: tuple[str, ...] | None) -> Located:
    """Detection in order: manifests, Data Export periods, Athena months, loose files.

    With ``layouts`` (from ``--format``), only those are looked for.
    """

    def wanted(layout: str) -> bool:
        return layouts is None or layout in layouts

    _refuse_superseded_assembly(root)
    located = Located([])
    manifests = _manifests(root) if wanted("legacy_csv_manifest") else []
    if manifests:
        located = _manifest_deliveries(manifests)
    elif wanted("cur2_data_export"):
        located = _cur2_deliveries(root)
    if not located.deliveries and not located.failures and wanted("athena_parquet"):
        located.deliveries = _athena_deliveries(root)
    if not located.deliveries and not located.failures and wanted("loose_files"):
        files = _data_files(root)
        if layouts == _LAYOUTS["legacy-csv"]:
            files = [path for path in files if file_kind(path) != "parquet"]
        elif layouts == _LAYOUTS["legacy-parquet"]:
            files = [path for path in files if file_kind(path) == "parquet"]
        if wanted("legacy_csv_manifest"):
            _refuse_assemblies_without_manifest(root, files)
        located = _loose_files(files)
    return located


def _refuse_assemblies_without_manifest(root: Path, files: list[Path]) -> None:
    """Without its manifest, a month delivered more than once cannot say which is current.

    AWS leaves each older assembly of a re-delivered month beside the new one
    (``<YYYYMMDD-YYYYMMDD>/<assemblyId>/``); read as loose files, all of them would be added
    up into the month. One assembly folder (or files straight in the period folder) is read.
    """
    assemblies: dict[Path, set[str]] = defaultdict(set)
    for path in files:
        parts = path.relative_to(root).parts
        for depth, name in enumerate(parts[:-1]):
            if _PERIOD_FOLDER.match(name):
                period_folder = root.joinpath(*parts[: depth + 1])
                assemblies[period_folder].add(parts[depth + 1])
                break
        else:
            if _PERIOD_FOLDER.match(root.name) and len(parts) > 1:
                assemblies[root].add(parts[0])
    for period_folder, names in sorted(assemblies.items()):
        folders = sorted(name for name in names if (period_folder / name).is_dir())
        if len(folders) > 1:
            raise ConfigError(
                f"{period_folder}: {len(folders)} assemblies ({', '.join(folders)}) and no "
                "manifest to say which one is current; adding them up would count the month "
                "more than once. Copy the <report>-Manifest.json that AWS delivers into this "
                "folder, or point at the one assembly folder to read"
            )


def _refuse_superseded_assembly(folder: Path) -> None:
    """An assembly folder read on its own would replace the month with that assembly."""
    period_folder = folder.resolve().parent
    manifests = list(period_folder.glob("*-Manifest.json"))
    if not _PERIOD_FOLDER.match(period_folder.name) or not manifests:
        return
    try:
        current = json.loads(manifests[0].read_text(encoding="utf-8")).get("assemblyId")
    except (json.JSONDecodeError, UnicodeDecodeError, AttributeError):
        return  # the manifest's own problems are reported when the report folder is read
    if current != folder.resolve().name:
        raise ConfigError(
            f"{folder}: an assembly that {manifests[0]} no longer names (the current one is "
            f"{current}); point at the report folder {period_folder.parent} instead"
        )


def _refuse_part_of_assembly(file: Path) -> None:
    """One file of a delivered assembly is part of a month, or an old version of one."""
    assembly = file.resolve().parent
    _refuse_superseded_assembly(assembly)
    manifests = list(assembly.parent.glob("*-Manifest.json"))
    if not _PERIOD_FOLDER.match(assembly.parent.name) or not manifests:
        return
    try:
        keys = json.loads(manifests[0].read_text(encoding="utf-8")).get("reportKeys") or []
    except (json.JSONDecodeError, UnicodeDecodeError, AttributeError):
        return
    if len(keys) > 1:
        raise ConfigError(
            f"{file}: one of the {len(keys)} files that {manifests[0]} names for this month; "
            f"point at the report folder {assembly.parent.parent} instead"
        )


def _refuse_part_of_export(file: Path) -> None:
    """One file of a CUR 2.0 period read on its own would replace the month with that file."""
    folder = file.resolve().parent
    if not _is_cur2_folder(folder, "data"):
        return
    manifests = sorted((folder.parent.parent / "metadata" / folder.name).glob("*-Manifest.json"))
    if not manifests:
        return
    try:
        names = json.loads(manifests[0].read_text(encoding="utf-8")).get("dataFiles") or []
    except (json.JSONDecodeError, UnicodeDecodeError, AttributeError):
        return  # the manifest's own problems are reported when the export is read
    if [str(name).rsplit("/", 1)[-1] for name in names] != [file.name]:
        raise ConfigError(
            f"{file}: not the one file that {manifests[0]} names for this month; "
            f"point at the export folder {folder.parent.parent} instead"
        )


def _data_files(root: Path) -> list[Path]:
    files = [
        path
        for path in sorted(root.rglob("*"))
        if path.is_file()
        and path.name.lower().endswith(_DATA_SUFFIXES)
        and not any(part.startswith(".") for part in path.relative_to(root).parts)
        and not any(marker in path.relative_to(root).as_posix() for marker in _NOT_LINE_ITEMS)
    ]
    return files


def _manifests(root: Path) -> list[Path]:
    manifests = [
        path
        for path in sorted(root.rglob("*-Manifest.json"))
        # AWS also copies the manifest into each assembly folder; the one that names the
        # current assembly sits directly in the billing period's folder.
        if _PERIOD_FOLDER.match(path.parent.name)
    ]
    reports = {manifest.parent.parent for manifest in manifests}
    if len(reports) > 1:
        names = ", ".join(sorted(str(report) for report in reports))
        raise ConfigError(f"{root}: holds several CUR reports ({names}); point at one of them")
    for report in reports:
        for folder in sorted(report.iterdir()):
            if folder.is_dir() and not any(folder.glob("*-Manifest.json")):
                # AWS writes the manifest last: a period folder without one is mid-delivery
                # (or not a period at all), and its files are not the current assembly yet.
                log.warning("%s: no manifest in this folder; its files were not read", folder)
    return manifests


def _manifest_deliveries(manifests: list[Path]) -> Located:
    located = Located([])
    for manifest in manifests:
        try:
            located.deliveries.append(_manifest_delivery(manifest))
        except InputError as error:
            located.failures.append(error)  # the other months' problems are reported too
    return located


def _read_manifest(manifest_path: Path, files_key: str, expected: str) -> dict:
    """A manifest's JSON, refused unless it is an object with a list of files under files_key."""
    path = str(manifest_path)
    try:
        manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise InputError(path, f"manifest is not valid JSON ({error})") from None
    if not isinstance(manifest, dict) or not isinstance(manifest.get(files_key), list):
        raise InputError(path, f"manifest has no {files_key} list", expected=expected)
    return manifest


def _manifest_delivery(manifest_path: Path) -> Delivery:
    path = str(manifest_path)
    manifest = _read_manifest(manifest_path, "reportKeys", "a CUR manifest")

    period = _manifest_period(path, manifest, manifest_path.parent.name)
    files = _named_files(
        path,
        manifest["reportKeys"],
        "report files",
        lambda key: _resolve_report_key(manifest_path, key),
    )
    return _named_delivery(period, "legacy_csv_manifest", files, manifest.get("assemblyId"))


def _named_files(path: str, names: list, what: str, resolve: Callable[[str], Path]) -> list[Path]:
    """The files a manifest names, each once and each present."""
    if not names:
        # Replacing the month with nothing would delete it: AWS never delivers an empty list.
        raise InputError(path, f"manifest names no {what}", expected=f"a list of {what}")
    repeated = sorted({str(name) for name in names if names.count(name) > 1})
    if repeated:
        raise InputError(
            path, f"manifest names {repeated[0]!r} more than once", expected="each file once"
        )
    return [resolve(str(name)) for name in names]


def _named_delivery(period: str, layout: str, files: list[Path], delivery_id: object) -> Delivery:
    """A month as a manifest names it: the same delivery id and file sizes are the same data."""
    identity = str(delivery_id or "")
    parts = [identity] + [f"{file.name}:{file.stat().st_size}" for file in files]
    return Delivery(period, layout, files, _digest(parts), assembly_id=identity or None)


def _manifest_period(path: str, manifest: dict, folder: str) -> str:
    start = (manifest.get("billingPeriod") or {}).get("start", "")
    match = re.match(r"^(\d{4})(\d{2})\d{2}T", str(start))
    if match:
        return f"{match.group(1)}-{match.group(2)}"
    folder_match = _PERIOD_FOLDER.match(folder)
    if folder_match:
        return f"{folder_match.group(1)}-{folder_match.group(2)}"
    raise InputError(
        path, "manifest has no billingPeriod.start", expected="a start like 20260801T000000.000Z"
    )


def _resolve_report_key(manifest_path: Path, key: str) -> Path:
    # reportKeys are S3 keys from the bucket's root ("<prefix>/<report>/<period>/<id>/<file>");
    # locally the part after the billing period's folder is what sits next to the manifest.
    parts = str(key).split("/")
    period_folder = manifest_path.parent.name
    tail = parts[parts.index(period_folder) + 1 :] if period_folder in parts else parts[-2:]
    file = _within(manifest_path, manifest_path.parent, key, tail)
    if not file.is_file():
        raise InputError(
            str(manifest_path), f"manifest names {key!r}, which is missing (looked for {file})"
        )
    return file


def _within(manifest_path: Path, folder: Path, key: str, tail: list[str]) -> Path:
    """The file a manifest names, refused when the name leads out of the period's folder.

    AWS's keys never hold ``..``: one that does would read a file the source does not hold.
    """
    # Lexical: a link the source's owner put in the folder is theirs to follow.
    if any(part in ("", ".", "..") for part in tail):
        raise InputError(
            str(manifest_path),
            f"manifest names {key!r}, which leads out of {folder}",
            expected="files in the billing period's folder",
        )
    return folder.joinpath(*tail)


def _is_cur2_folder(folder: Path, kind: str) -> bool:
    """``folder`` is ``<export>/<kind>/BILLING_PERIOD=YYYY-MM`` (kind: data or metadata)."""
    return bool(_CUR2_PERIOD.match(folder.name)) and folder.parent.name == kind


def _cur2_deliveries(root: Path) -> Located:
    """CUR 2.0 periods under ``root``: one per data folder or metadata manifest found."""
    periods: set[tuple[Path, str]] = set()
    resolved = root.resolve()
    folders = [resolved, *(path for path in resolved.rglob("BILLING_PERIOD=*") if path.is_dir())]
    for folder in folders:
        for kind in ("data", "metadata"):
            if _is_cur2_folder(folder, kind):
                periods.add((folder.parent.parent, folder.name))
    exports = {export for export, _ in periods}
    if len(exports) > 1:
        names = ", ".join(sorted(str(export) for export in exports))
        raise ConfigError(f"{root}: holds several CUR 2.0 exports ({names}); point at one of them")

    located = Located([])
    for export, period_name in sorted(periods):
        data_folder = export / "data" / period_name
        if not data_folder.is_relative_to(resolved):
            continue  # a metadata folder given on its own: its data is outside the source
        try:
            located.deliveries.append(_cur2_delivery(export, period_name, data_folder))
        except InputError as error:
            located.failures.append(error)  # the other months' problems are reported too
    return located


def _cur2_delivery(export: Path, period_name: str, data_folder: Path) -> Delivery:
    match = _CUR2_PERIOD.match(period_name)
    assert match is not None  # only called for BILLING_PERIOD= folders
    period = f"{match.group(1)}-{match.group(2)}"
    manifests = sorted((export / "metadata" / period_name).glob("*-Manifest.json"))
    if manifests:
        return _cur2_manifest_delivery(manifests[0], period, data_folder)

    files = _data_files(data_folder) if data_folder.is_dir() else []
    if not files:
        raise InputError(
            str(data_folder), "no data files", expected=".snappy.parquet or .csv.gz files"
        )
    return Delivery(period, "cur2_data_export", files, _file_fingerprint(files))


def _cur2_manifest_delivery(manifest_path: Path, period: str, data_folder: Path) -> Delivery:
    """The files a Data Exports manifest names for the period, and its execution id."""
    path = str(manifest_path)
    manifest = _read_manifest(manifest_path, "dataFiles", "a Data Exports manifest")
    stated = str(manifest.get("billingPeriod") or period)
    if stated[:7] != period:
        raise InputError(
            path,
            f"manifest is for billing period {stated!r} but sits in BILLING_PERIOD={period}",
            expected=period,
        )

    files = _named_files(
        path,
        manifest["dataFiles"],
        "data files",
        lambda name: _resolve_data_file(manifest_path, data_folder, name),
    )
    return _named_delivery(period, "cur2_data_export", files, manifest.get("executionId"))


def _resolve_data_file(manifest_path: Path, data_folder: Path, name: str) -> Path:
    # dataFiles are S3 URIs ("s3://<bucket>/<prefix>/<export>/data/BILLING_PERIOD=.../<file>");
    # locally the part after the period's data folder is what sits in it.
    parts = name.split("/")
    tail = parts[parts.index(data_folder.name) + 1 :] if data_folder.name in parts else parts[-1:]
    file = _within(manifest_path, data_folder, name, tail)
    if not file.is_file():
        raise InputError(
            str(manifest_path), f"manifest names {name!r}, which is missing (looked for {file})"
        )
    return file


def _athena_deliveries(root: Path) -> list[Delivery]:
    by_period: dict[str, list[Path]] = defaultdict(list)
    for path in _data_files(root):
        match = _ATHENA_MONTH.search(path.relative_to(root).as_posix())
        if match and path.name.lower().endswith(".parquet"):
            by_period[f"{match.group(1)}-{int(match.group(2)):02d}"].append(path)
    return [
        Delivery(period, "athena_parquet", files, _file_fingerprint(files))
        for period, files in by_period.items()
    ]


def _loose_files(files: list[Path]) -> Located:
    by_period: dict[str, list[Path]] = defaultdict(list)
    failures: list[FinopsError] = []
    for path in files:
        try:
            file_kind(path)  # a clear error for a file that is not CUR data
            by_period[_period_of_file(path)].append(path)
        except InputError as error:
            failures.append(error)
    deliveries = [
        Delivery(period, "loose_files", paths, _file_fingerprint(paths))
        for period, paths in by_period.items()
    ]
    return Located(deliveries, failures)


def _period_of_file(path: Path) -> str:
    """The billing period a file without a manifest belongs to, from its first data row."""
    names = source_columns(path)
    if focus.is_focus(names):
        # A FOCUS file may hold other providers' rows, which are not ingested.
        return focus.first_period(str(path), read_batches(path))
    column = next(
        (
            name
            for name in names
            if name.strip().lstrip("\ufeff")
            in ("bill/BillingPeriodStartDate", "bill_billing_period_start_date")
        ),
        None,
    )
    if column is None:
        raise InputError(
            str(path),
            "not a CUR line-item file: no bill/BillingPeriodStartDate column",
            expected="a Cost and Usage Report header",
        )
    for source_batch in read_batches(path):
        values = source_batch.batch.column(column)
        if len(values) == 0:
            continue
        first = values[0]
        if hasattr(first, "value") and isinstance(first.as_py(), datetime):
            return first.as_py().strftime("%Y-%m")
        text = str(first.as_py() or "")
        match = re.match(r"^(\d{4})-(\d{2})-\d{2}", text)
        if not match:
            raise InputError(
                str(path),
                f"{text!r} is not a date",
                row=1,
                column=column,
                expected="a timestamp such as 2026-08-01T00:00:00Z",
            )
        return f"{match.group(1)}-{match.group(2)}"
    raise InputError(str(path), "file holds no line items", expected="at least one data row")


def _file_fingerprint(files: list[Path]) -> str:
    # Without a manifest's assembly id, a file is the same when its name, size and
    # modification time are (as make and rsync decide).
    return _digest([f"{file}:{file.stat().st_size}:{file.stat().st_mtime_ns}" for file in files])


def _digest(parts: list[str]) -> str:
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()[:16]
