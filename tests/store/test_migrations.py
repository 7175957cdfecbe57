"""Migrations and the constraints they create, verified by trying to break them."""

from __future__ import annotations

import uuid

import psycopg
import pytest
from sqlalchemy import create_engine, inspect, text
from sqlalchemy.exc import IntegrityError, ProgrammingError

from directorybolt.store import db, migrations
from directorybolt.store.db import sqlalchemy_url


@pytest.fixture
def scratch_db(services):
    """A second, empty database for the upgrade/downgrade round trip."""
    if services.admin_url is None:
        url = services.database_url
        yield url  # embedded: round-trip on the test database itself, then restore head
        migrations.upgrade(url)
        return
    name = f"dbolt_scratch_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(services.admin_url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    url = services.admin_url.rsplit("/", 1)[0] + f"/{name}"
    yield url
    with psycopg.connect(services.admin_url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


EXPECTED = {"customers", "directories", "jobs", "job_results", "worker_heartbeats", "queue_history",
            "queue_history_archive", "dead_letters", "api_keys", "api_key_customers", "stripe_events",
            "stripe_checkouts"}


def test_upgrade_downgrade_upgrade(scratch_db):
    eng = create_engine(sqlalchemy_url(scratch_db))
    migrations.downgrade(scratch_db, "base")
    assert EXPECTED.isdisjoint(inspect(eng).get_table_names())
    migrations.upgrade(scratch_db)
    assert set(inspect(eng).get_table_names()) >= EXPECTED
    migrations.downgrade(scratch_db, "base")
    assert EXPECTED.isdisjoint(inspect(eng).get_table_names())
    migrations.upgrade(scratch_db)
    assert migrations.current(scratch_db) == migrations.head()
    indexes = {i["name"] for i in inspect(eng).get_indexes("jobs")}
    assert {"ix_jobs_created_at", "ix_jobs_status_heartbeat"} <= indexes
    assert {c["name"] for c in inspect(eng).get_columns("customers")} >= PROFILE_EXTRA
    eng.dispose()


PROFILE_EXTRA = {"tagline", "contact_name", "country", "logo_url", "social_facebook", "social_x",
                 "social_instagram", "social_linkedin"}


def _script():
    from alembic.script import ScriptDirectory

    return ScriptDirectory.from_config(migrations.alembic_config(""))


def test_profile_columns_come_and_go_with_0007(scratch_db):
    """0007 adds the extra profile columns; stepping back before it removes them and keeps the rows."""
    eng = create_engine(sqlalchemy_url(scratch_db))
    migrations.upgrade(scratch_db)
    with eng.begin() as conn:
        conn.execute(text("INSERT INTO customers (id, business_name, email, contact_name, country) "
                          "VALUES (:id, 'Acme', 'a@b.co', 'Ana', 'Portugal')"), {"id": uuid.uuid4()})
    migrations.downgrade(scratch_db, str(_script().get_revision("0007").down_revision))
    assert PROFILE_EXTRA.isdisjoint({c["name"] for c in inspect(eng).get_columns("customers")})
    with eng.begin() as conn:
        assert conn.execute(text("SELECT business_name FROM customers")).scalars().all() == ["Acme"]
        conn.execute(text("DELETE FROM customers"))
    migrations.upgrade(scratch_db)
    assert {c["name"] for c in inspect(eng).get_columns("customers")} >= PROFILE_EXTRA
    eng.dispose()


def _customer(s) -> uuid.UUID:
    cid = uuid.uuid4()
    s.execute(text("INSERT INTO customers (id, business_name, email) VALUES (:id, 'Acme', 'a@b.co')"), {"id": cid})
    return cid


def _job(s, cid) -> uuid.UUID:
    jid = uuid.uuid4()
    s.execute(
        text("INSERT INTO jobs (id, customer_id, tier, queue, package_size, status, total, submitted, failed, "
             "needs_review, skipped, version, requeue_count, fast_track) VALUES (:id, :c, 'starter', "
             "'submissions.starter', 100, 'pending', 0, 0, 0, 0, 0, 1, 0, false)"),
        {"id": jid, "c": cid},
    )
    return jid


def _directory(s, did="d1") -> str:
    s.execute(text("INSERT INTO directories (id, name, url, domain_authority, tier, active, requires_login, "
                   "has_captcha) VALUES (:id, 'D', 'http://x', 50, 1, true, false, false)"), {"id": did})
    return did


def _result(s, jid, did, key="k1", status="pending"):
    s.execute(text("INSERT INTO job_results (job_id, directory_id, idempotency_key, status, attempts) "
                   "VALUES (:j, :d, :k, :s, 0)"), {"j": jid, "d": did, "k": key, "s": status})


def test_duplicate_idempotency_key_rejected(clean):
    with db.session() as s:
        jid = _job(s, _customer(s))
        _result(s, jid, _directory(s, "d1"), key="same")
        _directory(s, "d2")
    with pytest.raises(IntegrityError, match="idempotency_key"), db.session() as s:
        _result(s, jid, "d2", key="same")


@pytest.mark.parametrize(
    "sql",
    [
        "UPDATE jobs SET status = 'exploded'",
        "UPDATE job_results SET status = 'maybe'",
        "INSERT INTO dead_letters (task_name, args, kwargs, exception_type, exception_message, attempts, state) "
        "VALUES ('t', '[]', '{}', 'E', '', 1, 'lost')",
        "INSERT INTO api_keys (name, prefix, key_hash, role) VALUES ('n', 'p', 'h', 'root')",
        "UPDATE jobs SET requeue_count = -1",
    ],
)
def test_bad_status_rejected(clean, sql):
    with db.session() as s:
        jid = _job(s, _customer(s))
        _result(s, jid, _directory(s))
    with pytest.raises(IntegrityError, match="ck_"), db.session() as s:
        s.execute(text(sql))


def test_cascade_delete_removes_children(clean):
    with db.session() as s:
        cid = _customer(s)
        jid = _job(s, cid)
        _result(s, jid, _directory(s))
        s.execute(text("INSERT INTO queue_history (job_id, event) VALUES (:j, 'job_created')"), {"j": jid})
    with db.session() as s:
        s.execute(text("DELETE FROM customers WHERE id = :c"), {"c": cid})
    with db.session() as s:
        for table in ("jobs", "job_results", "queue_history"):
            assert s.execute(text(f"SELECT count(*) FROM {table}")).scalar() == 0, table


def test_queue_history_is_append_only(clean):
    with db.session() as s:
        s.execute(text("INSERT INTO queue_history (event) VALUES ('x')"))
    with pytest.raises(ProgrammingError, match="append-only"), db.session() as s:
        s.execute(text("UPDATE queue_history SET event = 'y'"))


def test_statement_timeout_is_set(clean):
    with db.session() as s:
        assert s.execute(text("SHOW statement_timeout")).scalar() == "30s"


def _stripe_event(s, event_id: str, session_id: str | None = None, job_id=None) -> None:
    s.execute(text("INSERT INTO stripe_events (id, type, job_id) VALUES (:e, 'checkout.session.completed', :j)"),
              {"e": event_id, "j": job_id})
    if session_id:
        s.execute(text("INSERT INTO stripe_checkouts (session_id, event_id, job_id, fast_track) "
                       "VALUES (:s, :e, :j, false)"), {"s": session_id, "e": event_id, "j": job_id})


@pytest.mark.parametrize("event_id, session_id, constraint", [
    ("evt_1", "cs_2", "stripe_events_pkey"),  # the same event again
    ("evt_2", "cs_1", "stripe_checkouts_pkey"),  # another event of the same session
])
def test_a_stripe_event_or_session_is_recorded_once(clean, event_id, session_id, constraint):
    with db.session() as s:
        _stripe_event(s, "evt_1", "cs_1")
    with pytest.raises(IntegrityError, match=constraint), db.session() as s:
        _stripe_event(s, event_id, session_id)


def test_held_jobs_and_stop_requests_fit_the_jobs_table(clean):
    with db.session() as s:
        jid = _job(s, _customer(s))
        s.execute(text("UPDATE jobs SET status = 'needs_review', cancel_requested_at = now() WHERE id = :j"),
                  {"j": jid})
        _stripe_event(s, "evt_1", "cs_1", jid)
    with db.session() as s:  # deleting the customer takes its checkout along; the event row stays, unlinked
        s.execute(text("DELETE FROM customers"))
        assert s.execute(text("SELECT count(*) FROM stripe_checkouts")).scalar() == 0
        assert s.execute(text("SELECT job_id FROM stripe_events")).all() == [(None,)]


def test_downgrade_refuses_to_drop_held_jobs(scratch_db):
    eng = create_engine(sqlalchemy_url(scratch_db))
    migrations.upgrade(scratch_db)
    with eng.begin() as conn:
        conn.execute(text("INSERT INTO customers (id, business_name, email) VALUES (:c, 'A', 'a@b.co')"),
                     {"c": uuid.uuid4()})
        conn.execute(text("INSERT INTO jobs (id, customer_id, tier, queue, package_size, status, total, submitted, "
                          "failed, needs_review, skipped, version, requeue_count, fast_track) SELECT :j, id, "
                          "'starter', 'submissions.starter', 100, 'needs_review', 0, 0, 0, 0, 0, 1, 0, false "
                          "FROM customers"), {"j": uuid.uuid4()})
    with pytest.raises(RuntimeError, match="held for review"):
        migrations.downgrade(scratch_db, "0001")
    assert migrations.current(scratch_db) == migrations.head()
    with eng.begin() as conn:
        conn.execute(text("UPDATE jobs SET status = 'cancelled'"))
    migrations.downgrade(scratch_db, "0001")
    assert "stripe_events" not in inspect(eng).get_table_names()
    with pytest.raises(IntegrityError, match="ck_jobs_status"), eng.begin() as conn:
        conn.execute(text("UPDATE jobs SET status = 'needs_review'"))
    eng.dispose()
