"""CSV and XLSX in and out of an entity: streamed, all rows or none, every bad row named."""

from __future__ import annotations

import csv
import io
import sys
import time
from collections.abc import Callable, Container, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from dataclasses import field as dataclass_field
from pathlib import Path
from typing import IO, Any

import sqlalchemy as sa

from appblocks.engine.catalog import Catalog
from appblocks.engine.compute import build_store
from appblocks.engine.fieldtypes import FieldValueError
from appblocks.engine.records import RecordErrors, RecordStore
from appblocks.engine.references import TitleResolver, UnknownReference, Visible
from appblocks.engine.sandbox_values import UserContext
from appblocks.engine.spec import EntitySpec, FieldSpec

CHUNK = 5000
MAX_PROBLEMS = 1000


class ImportFailed(Exception):
    """Rows that cannot be imported: each problem as `row N, column C: message`."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("\n".join(problems[:20]))


# --- reading ----------------------------------------------------------------------------------


def _sniffed(handle: IO[str]) -> Iterator[list[str]]:
    sample = handle.read(4096)
    handle.seek(0)
    try:
        dialect: Any = csv.Sniffer().sniff(sample, delimiters=",;\t")
    except csv.Error:
        dialect = csv.excel
    yield from csv.reader(handle, dialect)


def _csv_rows(path: Path) -> Iterator[list[str]]:
    # utf-8-sig: Excel writes a BOM in front of UTF-8 CSV files.
    with path.open(newline="", encoding="utf-8-sig") as handle:
        yield from _sniffed(handle)


def csv_rows(text: str) -> Iterator[list[str]]:
    """The rows of CSV text already in memory (an upload), its delimiter sniffed."""
    return _sniffed(io.StringIO(text.removeprefix("\ufeff"), newline=""))


def xlsx_rows(source: Path | IO[bytes]) -> Iterator[list[str]]:
    """The rows of the first sheet of an XLSX workbook (a path or an open binary file)."""
    from openpyxl import load_workbook

    workbook = load_workbook(source, read_only=True, data_only=True)
    try:
        sheet = workbook.worksheets[0]
        for values in sheet.iter_rows(values_only=True):
            yield ["" if v is None else _cell_text(v) for v in values]
    finally:
        workbook.close()


def _xlsx_rows(path: Path) -> Iterator[list[str]]:
    return xlsx_rows(path)


def _cell_text(value: Any) -> str:
    if hasattr(value, "isoformat"):
        text = value.isoformat()
        return text[:10] if text.endswith("T00:00:00") else text
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def read_rows(path: Path) -> Iterator[list[str]]:
    """The rows of a CSV or XLSX file (the first row is the header), streamed."""
    suffix = path.suffix.lower()
    if suffix in (".xlsx", ".xlsm"):
        return _xlsx_rows(path)
    if suffix in (".csv", ".txt", ".tsv"):
        return _csv_rows(path)
    raise ImportFailed([f"{path.name}: only .csv and .xlsx files can be imported"])


# --- mapping headers to fields -----------------------------------------------------------------


def header_map(entity: EntitySpec, header: list[str]) -> tuple[list[FieldSpec | None], list[str]]:
    """For each column the field it fills (by name or label, in any locale), and problems."""
    by_key: dict[str, FieldSpec] = {}
    for field in entity.inputs():
        keys = {field.name, field.label("en"), field.label("zh-CN")}
        for key in keys:
            by_key.setdefault(key.strip().lower(), field)
    mapped: list[FieldSpec | None] = []
    problems: list[str] = []
    seen: set[str] = set()
    for number, title in enumerate(header, start=1):
        key = title.strip().lower()
        found = by_key.get(key)
        if found is None:
            if key == "" or key == "id" or key.startswith("_") or key in entity.fields:
                mapped.append(None)  # system or computed columns of an export: not input
                continue
            problems.append(
                f"row 1, column {number} ({title}): no field of {entity.name} is called that"
            )
            mapped.append(None)
            continue
        if found.name in seen:
            problems.append(f"row 1, column {number} ({title}): {found.name} appears twice")
        seen.add(found.name)
        mapped.append(found)
    missing = [f.name for f in entity.inputs() if f.required and f.name not in seen]
    for name in missing:
        problems.append(f"row 1: the required column {name} is missing")
    return mapped, problems


# --- import -----------------------------------------------------------------------------------


class _Progress:
    """A one-line progress counter on a terminal."""

    def __init__(self, enabled: bool, total: int | None = None) -> None:
        self.enabled = enabled
        self.started = time.monotonic()
        self.last = 0.0

    def update(self, done: int, *, final: bool = False) -> None:
        if not self.enabled:
            return
        now = time.monotonic()
        if not final and now - self.last < 0.2:
            return
        self.last = now
        rate = done / max(now - self.started, 1e-6)
        end = "\n" if final else ""
        sys.stderr.write(f"\r{done:,} rows checked ({rate:,.0f} rows/s){end}")
        sys.stderr.flush()


@dataclass(frozen=True)
class RowProblem:
    """One bad cell or row of an import: the file's row (the header is row 1), the column
    and field to blame, and why (English `message`; `code` and `params` to translate)."""

    row: int | None
    field: str
    message: str
    column: int | None = None  # the file's column number (1-based), when one is to blame
    code: str = "invalid"
    params: Mapping[str, Any] = dataclass_field(default_factory=dict)
    cell: bool = False  # the cell's text could not be read as the field's value

    def __str__(self) -> str:
        if self.row is None and not self.field:
            return self.message
        row = "?" if self.row is None else self.row
        if self.cell:
            return f"row {row}, column {self.column} ({self.field}): {self.message}"
        return f"row {row}, column {self.field}: {self.message}"


def _convert(
    fields: Sequence[FieldSpec | None],
    cells: list[str],
    resolver: TitleResolver,
    row_number: int,
    problems: list[RowProblem],
) -> dict[str, Any] | None:
    values: dict[str, Any] = {}
    ok = True
    for number, (field, cell) in enumerate(zip(fields, cells, strict=False), start=1):
        if field is None:
            continue
        try:
            if field.type == "link":
                values[field.name] = resolver.resolve(field, cell)
            elif field.type == "links":
                values[field.name] = [
                    resolver.resolve(field, part)
                    for part in cell.replace(",", ";").split(";")
                    if part.strip()
                ]
            else:
                values[field.name] = field.ftype.from_text(cell, field)
        except UnknownReference as exc:
            ok = False
            problems.append(
                RowProblem(
                    row_number, field.name, str(exc), number, "link_unknown",
                    {"value": cell.strip(), "target": field.target or ""}, cell=True,
                )
            )  # fmt: skip
        except FieldValueError as exc:
            ok = False
            problems.append(RowProblem(row_number, field.name, str(exc), number, cell=True))
    return values if ok else None


def load_rows(
    connection: sa.Connection,
    catalog: Catalog,
    entity_name: str,
    fields: Sequence[FieldSpec | None],
    rows: Iterable[list[str]],
    *,
    first_row: int = 2,
    actor: str | None = None,
    user: UserContext | None = None,
    store: RecordStore | None = None,
    fixed: Mapping[str, Any] | None = None,
    skip: Container[int] = (),
    scope: sa.ColumnElement[bool] | None = None,
    progress: Callable[[int], None] | None = None,
    chunk_size: int = CHUNK,
    max_problems: int = MAX_PROBLEMS,
    visible: Visible | None = None,
) -> tuple[int, list[RowProblem]]:
    """Create a record from each row (after the header, numbered from `first_row`), column i
    filling `fields[i]` (None: skipped), in the caller's transaction; the number of rows read
    and every problem found (the caller rolls back when there is any).

    `fixed` values go into every record (owner fields); rows numbered in `skip` are left out;
    a record outside `scope` (the caller's read rule) is a problem; `progress(done)` is told
    how many rows were handled after each chunk; links by title find only the records
    `visible` lets the caller read."""
    if store is None:
        store = build_store(catalog)
    resolver = TitleResolver(connection, catalog, visible)
    columns = {f.name: i for i, f in enumerate(fields, start=1) if f is not None}
    table = catalog.table(entity_name)
    problems: list[RowProblem] = []
    chunk: list[dict[str, Any]] = []
    chunk_rows: list[int] = []
    done = 0

    def save(values: list[dict[str, Any]], numbers: list[int]) -> None:
        # The rows of a chunk without errors are saved again without the bad ones, so that
        # their unique values and links are checked too: one run reports every bad row.
        while values:
            try:
                ids = store.create_many(connection, entity_name, values, actor=actor, user=user)
            except RecordErrors as exc:
                bad: set[int] = set()
                for error in exc.errors:
                    row = numbers[error.index] if error.index is not None else None
                    if error.index is not None:
                        bad.add(error.index)
                    top = error.field.split(".")[0]
                    problems.append(
                        RowProblem(
                            row, error.field, error.message, columns.get(top), error.code,
                            dict(error.params),
                        )
                    )  # fmt: skip
                if not bad or len(bad) == len(values):
                    return
                keep = [i for i in range(len(values)) if i not in bad]
                values = [values[i] for i in keep]
                numbers = [numbers[i] for i in keep]
                continue
            if scope is not None and ids:
                # A record the caller could not read afterwards must not come in through them.
                seen = set(
                    connection.execute(
                        sa.select(table.c.id).where(table.c.id.in_(ids), scope)
                    ).scalars()
                )
                for record_id, row in zip(ids, numbers, strict=False):
                    if record_id not in seen:
                        problems.append(
                            RowProblem(
                                row, "", "the record would fall outside the records you may see",
                                code="outside_rule",
                            )
                        )  # fmt: skip
            return

    def flush() -> None:
        save(list(chunk), list(chunk_rows))
        chunk.clear()
        chunk_rows.clear()

    for row_number, cells in enumerate(rows, start=first_row):
        if row_number in skip or not any(str(c).strip() for c in cells):
            continue  # blank lines at the end of a sheet are not records
        values = _convert(fields, cells, resolver, row_number, problems)
        done += 1
        # Rows after a bad one are still checked (and inserted, in a transaction that will
        # roll back) so that one run reports every bad row, not just the first.
        if values is not None:
            if fixed:
                values.update(fixed)
            chunk.append(values)
            chunk_rows.append(row_number)
        if len(problems) >= max_problems:
            problems.append(
                RowProblem(
                    None, "", f"stopped after {max_problems} problems", code="too_many",
                    params={"count": max_problems},
                )
            )  # fmt: skip
            break
        if len(chunk) >= chunk_size:
            flush()
            if progress is not None:
                progress(done)
    if chunk:
        flush()
    if progress is not None:
        progress(done)
    return done, problems


def import_rows(
    connection: sa.Connection,
    catalog: Catalog,
    entity_name: str,
    rows: Iterable[list[str]],
    *,
    actor: str | None = None,
    progress: bool = False,
    store: RecordStore | None = None,
) -> int:
    """Import rows (header first) in the caller's transaction; raises ImportFailed. `store`
    saves them (default: one that computes fields and checks rules, `build_store`)."""
    entity = catalog.entity(entity_name)
    iterator = iter(rows)
    header = next(iterator, None)
    if header is None:
        raise ImportFailed(["the file is empty: the first row must name the columns"])
    fields, problems = header_map(entity, header)
    if problems:
        raise ImportFailed(problems)
    meter = _Progress(progress)

    def counted(source: Iterator[list[str]]) -> Iterator[list[str]]:
        for number, cells in enumerate(source, start=1):
            yield cells
            meter.update(number)

    done, found = load_rows(
        connection, catalog, entity_name, fields, counted(iterator), actor=actor, store=store
    )
    meter.update(done, final=True)
    if found:
        raise ImportFailed([str(p) for p in found])
    return done


def import_file(
    engine: sa.Engine,
    entity: str,
    path: Path,
    *,
    actor: str | None = None,
    progress: bool = False,
    store_factory: Callable[[Catalog], RecordStore] | None = None,
) -> int:
    """Import a CSV or XLSX file into an entity, all rows or none; `store_factory` makes the
    record store for the installed catalog (default `build_store`)."""
    if not path.exists():
        raise ImportFailed([f"{path}: no such file"])
    with engine.begin() as connection:
        catalog = Catalog.load(connection)
        if entity not in catalog.specs.entities:
            raise ImportFailed([f"{entity}: no such entity (use app.entity)"])
        try:
            store = (store_factory or build_store)(catalog)
            return import_rows(
                connection,
                catalog,
                entity,
                read_rows(path),
                actor=actor,
                progress=progress,
                store=store,
            )
        except (UnicodeDecodeError, csv.Error) as exc:
            raise ImportFailed([f"{path.name}: cannot be read as CSV ({exc})"]) from None


# --- export -----------------------------------------------------------------------------------


def export_header(entity: EntitySpec) -> list[FieldSpec]:
    """The fields an export writes: every field with a value in the row (not lines)."""
    return [f for f in entity.fields.values() if f.type != "lines"]


def export_rows(
    connection: sa.Connection, catalog: Catalog, entity_name: str, *, batch: int = 2000
) -> Iterator[list[Any]]:
    """Header, then one row per record: links by their target's title; streamed by id."""
    entity = catalog.entity(entity_name)
    fields = export_header(entity)
    yield ["id", *[f.name for f in fields]]
    store = RecordStore(catalog)
    titles: dict[str, dict[int, str]] = {}
    cursor: str | None = None
    while True:
        page = store.list(connection, entity_name, sort="id", limit=batch, cursor=cursor)
        for record in page.items:
            row: list[Any] = [record["id"]]
            for field in fields:
                value = record.get(field.name)
                if field.type in ("link", "links") and field.target:
                    names = titles.setdefault(
                        field.target, _title_map(connection, catalog, field.target)
                    )
                    if field.type == "link":
                        value = names.get(value, value) if value is not None else None
                    else:
                        value = "; ".join(str(names.get(v, v)) for v in value or [])
                else:
                    value = field.ftype.to_text(value)
                row.append("" if value is None else value)
            yield row
        if not page.next_cursor:
            return
        cursor = page.next_cursor


def _title_map(connection: sa.Connection, catalog: Catalog, entity: str) -> dict[int, str]:
    spec = catalog.entity(entity)
    if not spec.title:
        return {}
    table = catalog.table(entity)
    return {i: str(t) for i, t in connection.execute(sa.select(table.c.id, table.c[spec.title]))}


def export_file(engine: sa.Engine, entity: str, out: Path | None, fmt: str = "csv") -> int:
    """Write an entity's records as CSV or XLSX (to stdout for CSV without a path)."""
    count = 0
    with engine.connect() as connection:
        catalog = Catalog.load(connection)
        rows = export_rows(connection, catalog, entity)
        if fmt == "xlsx":
            from openpyxl import Workbook

            if out is None:
                raise ValueError("an XLSX export needs --out FILE")
            workbook = Workbook(write_only=True)
            sheet = workbook.create_sheet(catalog.entity(entity).name[:31])
            for row in rows:
                sheet.append(row)
                count += 1
            workbook.save(out)
            return count - 1
        handle: IO[str] = out.open("w", newline="", encoding="utf-8") if out else sys.stdout
        try:
            writer = csv.writer(handle)
            for row in rows:
                writer.writerow(row)
                count += 1
        finally:
            if out:
                handle.close()
    return count - 1


def rows_from_text(text: str) -> Iterator[list[str]]:
    """CSV rows from text already in memory (an upload)."""
    return csv.reader(io.StringIO(text))
