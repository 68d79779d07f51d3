"""Housekeeping: old unclaimed uploads go (row and bytes), imports whose process died are
closed as interrupted, from the worker's schedule and from `appblocks housekeeping`."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from appblocks import cli
from appblocks.engine import housekeeping
from appblocks.engine.blueprints import install
from appblocks.engine.catalog import Catalog
from appblocks.engine.compute import build_store
from appblocks.engine.loader import load_blueprint_text
from appblocks.engine.models import utcnow
from appblocks.engine.sandbox_values import UserContext
from appblocks.forms.files import FILES, claim_files, file_meta, store_file
from appblocks.views import imports
from appblocks.workflows.jobs import JOBS, JobHandlers
from appblocks.workflows.worker import add_housekeeping, run_batch

NOW = dt.datetime(2026, 3, 2, 12, 0, tzinfo=dt.UTC)
DOCS = """
blueprint: docs
version: 1.0.0
entities:
  note:
    label: {en: Note, zh-CN: 笔记}
    title: name
    fields:
      name: {type: text, required: true}
      scan: {type: file}
"""


def _disk_file(tmp_path: Path, name: str, size: int) -> bytes:
    """A real file written to disk and read back, as an upload's bytes would be."""
    path = tmp_path / name
    path.write_bytes(bytes((i * 7 + len(name)) % 256 for i in range(size)))
    return path.read_bytes()


def _upload(
    conn: sa.Connection, name: str, data: bytes, age: dt.timedelta, **where: Any
) -> dict[str, Any]:
    meta = store_file(
        conn, name=name, content_type="application/pdf", data=data, created_by="ann", **where
    )
    conn.execute(sa.update(FILES).where(FILES.c.id == meta["id"]).values(created_at=NOW - age))
    return meta


def _stored(conn: sa.Connection, key: str) -> bytes | None:
    return conn.execute(sa.select(FILES.c.data).where(FILES.c.key == key)).scalar()


def _import_file(conn: sa.Connection) -> int:
    return int(store_file(conn, name="x.csv", content_type="text/csv", data=b"a\n1\n",
                          created_by="ann")["id"])  # fmt: skip


def _run(
    conn: sa.Connection,
    status: str,
    *,
    created: dt.timedelta,
    progress: dt.timedelta | None,
    done: int = 0,
    file_id: int | None = None,
) -> int:
    mapping: dict[str, Any] = {"file": "x.csv", "header": ["a"], "samples": [], "fields": ["a"]}
    if progress is not None:
        mapping = housekeeping.stamp_progress(mapping, NOW - progress)
    return int(
        conn.execute(
            sa.insert(imports.RUNS)
            .values(
                user_name="ann", entity="docs.note", file_id=file_id, mapping=mapping,
                status=status, total=500, done=done, errors=[], created_at=NOW - created,
            )
            .returning(imports.RUNS.c.id)
        ).scalar_one()
    )  # fmt: skip


def _status(engine: sa.Engine, run_id: int) -> dict[str, Any]:
    with engine.connect() as conn:
        row = conn.execute(sa.select(imports.RUNS).where(imports.RUNS.c.id == run_id)).one()
    return dict(row._mapping)


# --- unclaimed files ---------------------------------------------------------------------------


def test_old_unclaimed_file_goes_row_and_bytes_fresh_and_claimed_ones_stay(
    engine: sa.Engine, tmp_path: Path
) -> None:
    scan = _disk_file(tmp_path, "scan.pdf", 40_000)
    fresh = _disk_file(tmp_path, "fresh.pdf", 1_000)
    signed = _disk_file(tmp_path, "signed.pdf", 2_000)
    attached = _disk_file(tmp_path, "attached.pdf", 3_000)
    with engine.begin() as conn:
        old = _upload(conn, "scan.pdf", scan, dt.timedelta(hours=25), entity="docs.note")
        new = _upload(conn, "fresh.pdf", fresh, dt.timedelta(hours=23), entity="docs.note")
        # Chosen in a form 30 days ago and claimed by the save: a record's file now.
        kept = _upload(conn, "signed.pdf", signed, dt.timedelta(days=30), entity="docs.note")
        claim_files(conn, [kept["key"]], "docs.note", 7, "ann")
        attachment = _upload(
            conn, "attached.pdf", attached, dt.timedelta(days=90), entity="docs.note", record_id=3
        )
        report = housekeeping.run(conn, now=NOW)
    assert (report.files, report.file_bytes) == (1, 40_000)
    with engine.connect() as conn:
        assert file_meta(conn, old["key"]) is None and _stored(conn, old["key"]) is None
        assert _stored(conn, new["key"]) == fresh
        assert _stored(conn, kept["key"]) == signed
        assert _stored(conn, attachment["key"]) == attached
        assert conn.execute(sa.select(sa.func.count()).select_from(FILES)).scalar_one() == 3
    with engine.begin() as conn:  # nothing more to do: a second pass removes nothing
        assert housekeeping.run(conn, now=NOW).files == 0


def test_the_age_is_configurable(engine: sa.Engine, tmp_path: Path) -> None:
    data = _disk_file(tmp_path, "a.pdf", 500)
    with engine.begin() as conn:
        two_hours = _upload(conn, "a.pdf", data, dt.timedelta(hours=2), entity="docs.note")
        ten_min = _upload(conn, "b.pdf", data, dt.timedelta(minutes=10), entity="docs.note")
        settings = housekeeping.Settings.from_env({housekeeping.FILE_AGE_ENV: "1.5"})
        assert settings.file_age == dt.timedelta(hours=1.5)
        report = housekeeping.run(conn, settings, now=NOW)
        assert report.files == 1
        assert _stored(conn, two_hours["key"]) is None and _stored(conn, ten_min["key"]) == data


def test_files_kept_by_an_import_or_held_by_a_record_stay(engine: sa.Engine) -> None:
    install(engine, load_blueprint_text(DOCS, "docs.yaml"))
    with engine.begin() as conn:
        upload = _upload(conn, "x.csv", b"a\n1\n", dt.timedelta(days=3))
        _run(conn, "uploaded", created=dt.timedelta(days=3), progress=None,
             file_id=upload["id"])  # fmt: skip
        # A record whose file field holds a key that no save claimed (the API wrote it).
        held = _upload(conn, "held.pdf", b"%PDF-held", dt.timedelta(days=3), entity="docs.note")
        store = build_store(Catalog.load(conn))
        store.create(conn, "docs.note", {"name": "n", "scan": held["key"]})
        stray = _upload(conn, "stray.pdf", b"%PDF-stray", dt.timedelta(days=3), entity="docs.note")
        report = housekeeping.run(conn, now=NOW)
    assert report.files == 1
    with engine.connect() as conn:
        assert _stored(conn, upload["key"]) == b"a\n1\n"
        assert _stored(conn, held["key"]) == b"%PDF-held"
        assert _stored(conn, stray["key"]) is None


# --- interrupted imports -----------------------------------------------------------------------


@pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)
def test_a_stale_import_is_marked_interrupted_a_fresh_one_is_untouched(
    engine: sa.Engine,
) -> None:
    with engine.begin() as conn:
        file_id = _import_file(conn)
        stale = _run(conn, "importing", created=dt.timedelta(days=2),
                     progress=dt.timedelta(minutes=16), done=200, file_id=file_id)  # fmt: skip
        # Uploaded two days ago, but it made progress a minute ago: alive.
        fresh = _run(conn, "importing", created=dt.timedelta(days=2),
                     progress=dt.timedelta(minutes=1), done=400)  # fmt: skip
        checking = _run(conn, "checking", created=dt.timedelta(hours=1),
                        progress=dt.timedelta(minutes=30))  # fmt: skip
        unstamped = _run(conn, "importing", created=dt.timedelta(hours=3), progress=None)
        done = _run(conn, "done", created=dt.timedelta(days=9), progress=dt.timedelta(days=9))
        checked = _run(conn, "checked", created=dt.timedelta(days=9), progress=None)
        report = housekeeping.run(conn, now=NOW)
    assert sorted(report.interrupted) == sorted([stale, checking, unstamped])
    run = _status(engine, stale)
    assert run["status"] == "failed" and run["finished_at"] is not None
    assert run["errors"] == [housekeeping.interrupted_problem("importing")]
    assert housekeeping.interrupted_while(run) == "importing"
    assert housekeeping.interrupted_while(_status(engine, checking)) == "checking"
    assert run["file_id"] == file_id  # the file stays: the run can be started again
    assert _status(engine, fresh)["status"] == "importing"
    assert _status(engine, fresh)["errors"] == []
    assert _status(engine, done)["status"] == "done"
    assert _status(engine, checked)["status"] == "checked"
    with engine.begin() as conn:  # a longer patience leaves the fresh one alone again
        later = NOW + dt.timedelta(minutes=10)
        assert housekeeping.run(conn, now=later).interrupted == []
        wait = housekeeping.Settings(import_stale=dt.timedelta(minutes=5))
        assert housekeeping.run(conn, wait, now=later).interrupted == [fresh]


@pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)
def test_a_run_that_moved_on_is_not_marked(engine: sa.Engine) -> None:
    with engine.begin() as conn:
        run_id = _run(conn, "importing", created=dt.timedelta(hours=1),
                      progress=dt.timedelta(hours=1), done=200)  # fmt: skip
        # Read at 200 rows, but it reported 400 before the update: it is alive.
        assert not housekeeping.mark_interrupted(conn, run_id, "importing", done=400)
        assert housekeeping.mark_interrupted(conn, run_id, "importing", done=200)
        assert not housekeeping.mark_interrupted(conn, run_id, "importing")  # once


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_sqlite_import_runs_are_left_to_their_page(engine: sa.Engine) -> None:
    with engine.begin() as conn:
        run_id = _run(conn, "importing", created=dt.timedelta(days=1),
                      progress=dt.timedelta(days=1))  # fmt: skip
        assert housekeeping.run(conn, now=NOW).interrupted == []
    assert _status(engine, run_id)["status"] == "importing"


@pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)
def test_a_real_import_stamps_its_progress(engine: sa.Engine) -> None:
    install(engine, load_blueprint_text(DOCS, "docs.yaml"))
    data = ("name\n" + "".join(f"n{i}\n" for i in range(450))).encode()
    started = utcnow() - dt.timedelta(seconds=1)
    with engine.begin() as conn:
        catalog = Catalog.load(conn)
        fields = [catalog.entity("docs.note").fields["name"]]
        run_id = imports.create_run(conn, "ann", "docs.note", "n.csv", "text/csv", data,
                                    imports.read_table("n.csv", data), fields)  # fmt: skip
        conn.execute(sa.update(imports.RUNS).where(imports.RUNS.c.id == run_id)
                     .values(status=imports.CHECKED))  # fmt: skip
        assert imports.claim(conn, run_id, [imports.CHECKED], imports.IMPORTING)
    claimed = _status(engine, run_id)
    assert housekeeping.last_progress(claimed["mapping"], claimed["created_at"]) >= started
    seen: list[dt.datetime] = []
    runner = imports.ImportRunner()
    report = runner._progress

    def spy(job: imports.Job) -> Any:
        inner = report(job)

        def on(done: int) -> None:
            inner(done)
            run = _status(engine, run_id)
            seen.append(housekeeping.last_progress(run["mapping"], run["created_at"]))
            # Right after progress housekeeping leaves the run alone.
            with engine.begin() as conn:
                assert housekeeping.interrupt_stale_imports(conn) == []

        return on

    runner._progress = spy  # type: ignore[method-assign]
    runner.run(
        imports.Job(
            engine=engine, catalog=catalog, store=build_store(catalog), entity="docs.note",
            run_id=run_id, actor="ann", user=UserContext("ann"), fixed={}, scope=None,
            dry_run=False,
        )
    )  # fmt: skip
    run = _status(engine, run_id)
    assert run["status"] == "done" and run["done"] == 450
    assert len(seen) >= 2 and all(when >= started for when in seen)


# --- the worker and the command line -----------------------------------------------------------


def test_the_worker_runs_housekeeping_every_five_minutes(engine: sa.Engine) -> None:
    with engine.begin() as conn:
        old = _upload(conn, "old.pdf", b"%PDF-old", dt.timedelta(days=2), entity="docs.note")
    handlers = JobHandlers()
    add_housekeeping(engine, handlers, housekeeping.Settings(), now=NOW)
    add_housekeeping(engine, handlers, housekeeping.Settings(), now=NOW)  # a second worker
    assert housekeeping.JOB_KIND in handlers.kinds()
    with engine.connect() as conn:
        queued = conn.execute(
            sa.select(JOBS.c.due_at).where(JOBS.c.kind == housekeeping.JOB_KIND)
        ).scalars()
        assert list(queued) == [NOW + dt.timedelta(minutes=5)]
    slot = NOW + dt.timedelta(minutes=5, seconds=1)
    result = run_batch(engine, handlers, "w1", now=slot)
    assert result.ran == {housekeeping.JOB_KIND: 1} and not result.failed
    with engine.connect() as conn:
        assert _stored(conn, old["key"]) is None
        pending = conn.execute(
            sa.select(JOBS.c.due_at).where(
                JOBS.c.kind == housekeeping.JOB_KIND, JOBS.c.status == "pending"
            )
        ).scalars()
        # The run queued the next one: on the five-minute grid, after now (the real clock).
        (due,) = list(pending)
        assert due > utcnow() and due.minute % 5 == 0 and due.second == 0


def test_the_command_prints_what_it_removed_and_marked(
    db_url: str, engine: sa.Engine, capsys: pytest.CaptureFixture[str]
) -> None:
    now = utcnow()
    with engine.begin() as conn:
        old = _upload(conn, "old.pdf", b"x" * 1234, dt.timedelta(0), entity="docs.note")
        conn.execute(
            sa.update(FILES)
            .where(FILES.c.id == old["id"])
            .values(created_at=now - dt.timedelta(hours=30))
        )
        mapping = housekeeping.stamp_progress({"file": "x.csv"}, now - dt.timedelta(hours=1))
        run_id = conn.execute(
            sa.insert(imports.RUNS)
            .values(user_name="ann", entity="docs.note", mapping=mapping, status="importing",
                    total=1, done=0, errors=[], created_at=now - dt.timedelta(hours=1))
            .returning(imports.RUNS.c.id)
        ).scalar_one()  # fmt: skip
    assert cli.main(["housekeeping", "--db", db_url]) == 0
    out = capsys.readouterr().out
    assert "Unclaimed files older than 24 h; imports without progress for 15 min." in out
    assert "Removed 1 unclaimed file(s), 1234 byte(s)." in out
    if engine.dialect.name == "sqlite":
        assert "Marked 0 import run(s) as interrupted." in out
    else:
        assert f"Marked 1 import run(s) as interrupted: {run_id}." in out
    assert cli.main(["housekeeping", "--db", db_url]) == 0
    out = capsys.readouterr().out
    assert "Removed 0 unclaimed file(s), 0 byte(s)." in out
    assert "Marked 0 import run(s) as interrupted." in out


def test_the_command_refuses_a_bad_age_and_changes_nothing(
    db_url: str, engine: sa.Engine, capsys: pytest.CaptureFixture[str]
) -> None:
    with engine.begin() as conn:
        old = _upload(conn, "old.pdf", b"keep", dt.timedelta(0), entity="docs.note")
        conn.execute(
            sa.update(FILES)
            .where(FILES.c.id == old["id"])
            .values(created_at=utcnow() - dt.timedelta(days=3))
        )
    assert cli.main(["housekeeping", "--db", db_url, "--files-older-than", "0"]) == 1
    assert "--files-older-than must be more than 0" in capsys.readouterr().err
    assert cli.main(["housekeeping", "--db", db_url, "--imports-stale-after", "-5"]) == 1
    assert "--imports-stale-after must be more than 0" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        cli.main(["housekeeping", "--db", db_url, "--files-older-than", "a day"])
    assert "is not a number" in capsys.readouterr().err
    with pytest.raises(housekeeping.HousekeepingError, match="APPBLOCKS_IMPORT_STALE_MINUTES"):
        housekeeping.Settings.from_env({housekeeping.IMPORT_STALE_ENV: "soon"})
    with engine.connect() as conn:
        assert _stored(conn, old["key"]) == b"keep"
    assert cli.main(["housekeeping", "--db", db_url, "--files-older-than", "100"]) == 0
    assert "Removed 0 unclaimed file(s)" in capsys.readouterr().out
