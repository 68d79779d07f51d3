"""Imports from the pages: read an upload, guess the column mapping, check it, import it.

An import is a row of `ab_import` (its file in `ab_file`), owned by the user who uploaded it.
Its life: `uploaded` (the mapping form) -> `checking` -> `checked` (a dry run: every row saved
through the record store exactly as the real import does, then rolled back) -> `importing`
-> `done` or `failed`. The rows themselves go through `dataio.load_rows`, the CLI's path too.

Progress and SQLite: SQLite has one writer. The dry run and the import hold the write lock
for their whole transaction (one transaction, so that it is all rows or none), and a progress
update written from a second connection would wait for that lock, i.e. for the import itself.
So on SQLite the counter lives in this process (`ImportRunner.live`): a SQLite database is
served by one server process, so every poll reaches the process that runs the import. On
PostgreSQL the import's transaction locks only the rows it writes, and the counter is also
committed to `ab_import.done` from a second connection after every chunk, so any server
behind a load balancer can report it, with the time of that progress (`progress_at` in the
mapping, also set when a run is set going). Statuses are always committed outside the
import's transaction, so a failed or crashed import leaves no rows and a status that says so;
a run whose process died is closed as `interrupted` by housekeeping on PostgreSQL
(`engine/housekeeping.py`) and by its page on SQLite (`server/pages_import.py`).
"""

from __future__ import annotations

import csv
import io
import logging
import re
import secrets
import threading
import unicodedata
import zipfile
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, cast

import sqlalchemy as sa

from appblocks.engine import dataio
from appblocks.engine.access import Scope
from appblocks.engine.catalog import Catalog
from appblocks.engine.db import is_sqlite, reading
from appblocks.engine.housekeeping import stamp_progress
from appblocks.engine.models import ImportRun, StoredFile, utcnow
from appblocks.engine.records import RecordStore
from appblocks.engine.references import Visible
from appblocks.engine.sandbox_values import UserContext
from appblocks.engine.spec import EntitySpec, FieldSpec

log = logging.getLogger(__name__)

RUNS = cast(sa.Table, ImportRun.__table__)
FILES = cast(sa.Table, StoredFile.__table__)
MAX_ROWS = 50_000
MAX_COLUMNS = 200
SAMPLES = 3
CHUNK = 200  # rows per store call: progress moves at least this often
CSV_SUFFIXES = (".csv", ".txt", ".tsv")
XLSX_SUFFIXES = (".xlsx", ".xlsm")
_VALUE = re.compile(r"[-+]?[\d.,]+%?|\d{4}-\d{1,2}-\d{1,2}([ T][\d:.]+)?")
NOT_IMPORTED = frozenset({"lines", "file"})  # a flat cell cannot hold line items or files
UPLOADED, CHECKING, CHECKED, IMPORTING, DONE, FAILED = (
    "uploaded", "checking", "checked", "importing", "done", "failed",
)  # fmt: skip
RUNNING = (CHECKING, IMPORTING)


class UploadError(ValueError):
    """An upload that cannot be read as a table: `text` is the English message (the msgid the
    page translates) and `params` its values."""

    def __init__(self, text: str, **params: Any) -> None:
        self.text = text
        self.params = params
        super().__init__(text % params if params else text)


# --- reading an upload -----------------------------------------------------------------------


def _decode(data: bytes) -> str:
    """UTF-8 (with or without Excel's BOM), else GB18030: Excel on a Chinese Windows saves
    "CSV" in the ANSI code page, which GB18030 covers. Binary junk is refused either way."""
    for encoding in ("utf-8-sig", "gb18030"):
        try:
            text = data.decode(encoding)
        except UnicodeDecodeError:
            continue
        if not any(ord(c) < 32 and c not in "\t\r\n" for c in text[:65536]):
            return text
    raise UploadError("The file is not text in UTF-8 (or GB18030): save it as “CSV UTF-8”.")


def read_table(name: str, data: bytes) -> list[list[str]]:
    """The rows of an uploaded CSV or XLSX file, the header first, blank lines left out.

    Raises UploadError with a reason a person can act on."""
    suffix = "." + name.rsplit(".", 1)[-1].lower() if "." in name else ""
    if suffix not in CSV_SUFFIXES + XLSX_SUFFIXES:
        raise UploadError("Only .csv and .xlsx files can be imported.")
    if not data.strip(b" \t\r\n\xef\xbb\xbf"):
        raise UploadError("The file is empty.")
    rows: Iterable[list[str]]
    if suffix in XLSX_SUFFIXES:
        try:
            rows = list(dataio.xlsx_rows(io.BytesIO(data)))
        except (zipfile.BadZipFile, KeyError, OSError, ValueError, TypeError):
            raise UploadError("The file cannot be read as an Excel workbook (.xlsx).") from None
    else:
        try:
            rows = list(dataio.csv_rows(_decode(data)))
        except csv.Error as exc:
            raise UploadError(
                "The file cannot be read as CSV: %(reason)s", reason=str(exc)
            ) from None
    table: list[list[str]] = []
    count = 0
    for cells in rows:
        cells = [str(c).strip() for c in cells]
        table.append(cells)  # blank rows stay: the row numbers must be the file's
        if any(cells):
            count += 1
            if count > MAX_ROWS + 1:
                raise UploadError("The file has more than %(max)s rows: split it.", max=MAX_ROWS)
    while table and not any(table[-1]):
        table.pop()
    if not table:
        raise UploadError("The file is empty.")
    header = table[0]
    while header and not header[-1]:
        header.pop()
    if not header:
        raise UploadError("The first row must name the columns, but it is empty.")
    if len(header) > MAX_COLUMNS:
        raise UploadError("The file has more than %(max)s columns.", max=MAX_COLUMNS)
    if all(_VALUE.fullmatch(h) for h in header if h):
        # Only numbers and dates in the first row: the file has no header, it starts with data.
        raise UploadError(
            "The first row must name the columns, but it holds values (%(values)s).",
            values=", ".join(h for h in header[:3] if h),
        )
    if count < 2:
        raise UploadError("The file has a header row but no rows to import.")
    return table


def data_rows(table: Sequence[Sequence[str]]) -> int:
    """How many rows of a table (header first) hold anything."""
    return sum(1 for row in table[1:] if any(row))


# --- which fields, and guessing them from the header -----------------------------------------


def importable_fields(entity: EntitySpec, scope: Scope) -> list[FieldSpec]:
    """The fields an import may fill for a caller with this create scope: input fields that
    are neither hidden nor read-only for them, nor filled by the platform (owner fields)."""
    blocked = scope.hidden | scope.read_only | scope.owner_fields
    return [
        f
        for f in entity.inputs()
        if f.type not in NOT_IMPORTED and f.name not in blocked and not f.get("read_only")
    ]


def _key(text: str) -> str:
    # NFKC: full-width letters and brackets (（天）) match their ASCII forms; case and spaces
    # do not count, nor do underscores (a header may be a field name or a label).
    folded = unicodedata.normalize("NFKC", text).casefold()
    return re.sub(r"[\s_\-]+", "", folded)


def guess_mapping(fields: Sequence[FieldSpec], header: Sequence[str]) -> list[str | None]:
    """For each column, the field it most likely fills (None: skip it): its name, else its
    English label, else its Chinese one, ignoring case and spaces; each field once."""
    by_key: dict[str, FieldSpec] = {}
    for kind in ("name", "en", "zh-CN"):
        for f in fields:
            text = f.name if kind == "name" else f.label(kind)
            by_key.setdefault(_key(text), f)
    used: set[str] = set()
    out: list[str | None] = []
    for title in header:
        found = by_key.get(_key(title)) if title.strip() else None
        if found is None or found.name in used:
            out.append(None)
            continue
        used.add(found.name)
        out.append(found.name)
    return out


@dataclass(frozen=True)
class MappingProblem:
    """Why a submitted mapping is refused: an English message (msgid) and its values."""

    text: str
    params: Mapping[str, Any] = field(default_factory=dict)


def check_mapping(
    fields: Sequence[FieldSpec], header: Sequence[str], chosen: Sequence[str | None]
) -> list[MappingProblem]:
    """Problems with a submitted mapping: a field the caller may not fill (a forged form),
    one field for two columns, a required field without a column."""
    allowed = {f.name: f for f in fields}
    problems: list[MappingProblem] = []
    if len(chosen) != len(header):
        return [MappingProblem("The mapping does not match the file's columns.")]
    seen: dict[str, str] = {}
    for title, name in zip(header, chosen, strict=True):
        if name is None:
            continue
        if name not in allowed:
            problems.append(
                MappingProblem("You may not import into the field “%(field)s”.", {"field": name})
            )
        elif name in seen:
            problems.append(
                MappingProblem(
                    "The columns “%(first)s” and “%(second)s” both fill %(field)s.",
                    {"first": seen[name], "second": title, "field": name},
                )
            )
        else:
            seen[name] = title
    for f in fields:
        if f.required and f.get("default") is None and f.name not in seen:
            problems.append(
                MappingProblem(
                    "Choose a column for the required field %(field)s.", {"field": f.name}
                )
            )
    if not seen and not problems:
        problems.append(MappingProblem("Choose a field for at least one column."))
    return problems


# --- the ab_import rows ----------------------------------------------------------------------


def create_run(
    conn: sa.Connection,
    user_name: str,
    entity: str,
    name: str,
    content_type: str,
    data: bytes,
    table: list[list[str]],
    fields: Sequence[FieldSpec],
) -> int:
    """Keep the upload and start an import run (mapping guessed); its id."""
    file_id = conn.execute(
        sa.insert(FILES)
        .values(
            key=secrets.token_hex(16), name=name[:255], content_type=content_type[:127],
            size=len(data), data=data, created_by=user_name, created_at=utcnow(),
        )
        .returning(FILES.c.id)
    ).scalar_one()  # fmt: skip
    header = table[0]
    mapping = {
        "file": name[:255],
        "header": header,
        "samples": [row[: len(header)] for row in table[1:] if any(row)][:SAMPLES],
        "fields": guess_mapping(fields, header),
        "skip": [],
    }
    return int(
        conn.execute(
            sa.insert(RUNS)
            .values(
                user_name=user_name, entity=entity, file_id=file_id, mapping=mapping,
                status=UPLOADED, total=data_rows(table), done=0, errors=[], created_at=utcnow(),
            )
            .returning(RUNS.c.id)
        ).scalar_one()
    )  # fmt: skip


def load_run(
    conn: sa.Connection, run_id: int, user_name: str, entity: str
) -> dict[str, Any] | None:
    """The run, if it is this user's import into this entity (anyone else's is not there)."""
    row = conn.execute(
        sa.select(RUNS).where(
            RUNS.c.id == run_id, RUNS.c.user_name == user_name, RUNS.c.entity == entity
        )
    ).first()
    return dict(row._mapping) if row is not None else None


def save_mapping(conn: sa.Connection, run: Mapping[str, Any], chosen: list[str | None]) -> None:
    """Keep the chosen mapping; the run is back to `uploaded` (an earlier check is stale)."""
    mapping = {**run["mapping"], "fields": chosen, "skip": []}
    conn.execute(
        sa.update(RUNS)
        .where(RUNS.c.id == run["id"])
        .values(mapping=mapping, status=UPLOADED, done=0, errors=[])
    )


def claim(conn: sa.Connection, run_id: int, start: Sequence[str], to: str, **values: Any) -> bool:
    """Move a run from one of `start` to `to` (with `values`) unless another request did
    first: a double click must not import twice. A run set going gets its progress time
    (housekeeping closes a run without progress for a while: its process died)."""
    if to in RUNNING and "mapping" not in values:
        mapping = conn.execute(sa.select(RUNS.c.mapping).where(RUNS.c.id == run_id)).scalar()
        values["mapping"] = stamp_progress(mapping)
    result = conn.execute(
        sa.update(RUNS)
        .where(RUNS.c.id == run_id, RUNS.c.status.in_(list(start)))
        .values(status=to, **values)
    )
    return result.rowcount == 1


def _finish(engine: sa.Engine, run_id: int, **values: Any) -> None:
    with engine.begin() as conn:
        conn.execute(sa.update(RUNS).where(RUNS.c.id == run_id).values(**values))


# --- running a check or an import ------------------------------------------------------------


@dataclass(frozen=True)
class Job:
    """Everything a check or an import needs, taken from the request that started it."""

    engine: sa.Engine
    catalog: Catalog
    store: RecordStore
    entity: str
    run_id: int
    actor: str
    user: UserContext
    fixed: Mapping[str, Any]
    scope: Any  # the caller's read rule (a SQL predicate) or None
    dry_run: bool
    visible: Visible | None = None  # the caller's read rule of any entity (links by title)


def problem_dict(problem: dataio.RowProblem, header: Sequence[str]) -> dict[str, Any]:
    """A row problem as JSON for `ab_import.errors`, with the column's title from the file."""
    out = asdict(problem)
    out["params"] = {
        k: v if isinstance(v, int | float | str) else str(v) for k, v in out["params"].items()
    }
    column = problem.column
    out["title"] = header[column - 1] if column is not None and 0 < column <= len(header) else ""
    return out


class ImportRunner:
    """Runs checks and imports in background threads and keeps their live progress (the
    counter a SQLite server reports; see the module doc)."""

    def __init__(self) -> None:
        self._live: dict[int, int] = {}
        self._lock = threading.Lock()

    def live(self, run_id: int) -> int | None:
        """Rows handled so far by a run this process is running, else None."""
        with self._lock:
            return self._live.get(run_id)

    def start(self, job: Job) -> threading.Thread:
        """Run the job in a thread of its own; the thread (already started)."""
        with self._lock:
            self._live[job.run_id] = 0
        thread = threading.Thread(target=self.run, args=(job,), daemon=True)
        thread.start()
        return thread

    def _progress(self, job: Job) -> Callable[[int], None]:
        mapping: dict[str, Any] | None = None  # read at the first report

        def report(done: int) -> None:
            nonlocal mapping
            with self._lock:
                self._live[job.run_id] = done
            if is_sqlite(job.engine):
                return
            with job.engine.begin() as conn:
                if mapping is None:
                    mapping = dict(
                        conn.execute(
                            sa.select(RUNS.c.mapping).where(RUNS.c.id == job.run_id)
                        ).scalar()
                        or {}
                    )
                conn.execute(
                    sa.update(RUNS)
                    .where(RUNS.c.id == job.run_id)
                    .values(done=done, mapping=stamp_progress(mapping))
                )

        return report

    def run(self, job: Job) -> None:
        """Check or import the run's rows in one transaction; record the outcome."""
        try:
            self._run(job)
        except Exception as exc:  # the thread's last word: the run must not stay "running"
            log.exception("import %s failed", job.run_id)
            problem = dataio.RowProblem(None, "", f"the import stopped: {exc}", code="crashed")
            _finish(
                job.engine, job.run_id, status=FAILED, finished_at=utcnow(),
                errors=[problem_dict(problem, [])],
            )  # fmt: skip
        finally:
            with self._lock:
                self._live.pop(job.run_id, None)

    def _run(self, job: Job) -> None:
        with reading(job.engine) as conn:
            run = conn.execute(sa.select(RUNS).where(RUNS.c.id == job.run_id)).one()
            data = conn.execute(sa.select(FILES.c.data).where(FILES.c.id == run.file_id)).scalar()
        if data is None:
            raise RuntimeError("the uploaded file is gone")
        mapping = run.mapping
        table = read_table(mapping["file"], data)
        spec = job.catalog.entity(job.entity)
        fields = [spec.fields.get(name) if name else None for name in mapping["fields"]]
        with job.engine.connect() as conn:
            transaction = conn.begin()
            try:
                done, problems = dataio.load_rows(
                    conn, job.catalog, job.entity, fields, table[1:], actor=job.actor,
                    user=job.user, store=job.store, fixed=job.fixed,
                    skip=set(mapping.get("skip") or ()), scope=job.scope,
                    progress=self._progress(job), chunk_size=CHUNK, visible=job.visible,
                )  # fmt: skip
            except BaseException:
                transaction.rollback()
                raise
            if job.dry_run or problems:
                transaction.rollback()  # a check writes nothing; a failed import neither
            else:
                transaction.commit()
        errors = [problem_dict(p, mapping["header"]) for p in problems]
        if job.dry_run:
            status = CHECKED
        else:
            status = FAILED if problems else DONE
        _finish(
            job.engine, job.run_id, status=status, done=done, errors=errors,
            finished_at=utcnow() if status != CHECKED else None,
        )  # fmt: skip


def skip_rows(conn: sa.Connection, run: Mapping[str, Any]) -> int:
    """Leave the rows the check found bad out of the import; how many rows are left."""
    bad = sorted({e["row"] for e in run["errors"] or [] if e.get("row")})
    mapping = {**run["mapping"], "skip": bad}
    conn.execute(sa.update(RUNS).where(RUNS.c.id == run["id"]).values(mapping=mapping, errors=[]))
    return int(run["total"]) - len(bad)
