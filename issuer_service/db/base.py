"""The database engine and sessions: SQLite by default (one file, zero set-up), PostgreSQL by URL.

Every request runs in one transaction (:func:`transaction`): it commits when the handler returns and
rolls back on any exception, so a failed request leaves no half-written state. SQLite gets WAL mode, a
busy timeout, enforced foreign keys and transactions that take the write lock when they begin; PostgreSQL
runs at READ COMMITTED with explicit locks and unique constraints where races matter (see ``services/``).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import Engine, MetaData, create_engine, event
from sqlalchemy.orm import DeclarativeBase, Session, sessionmaker

__all__ = ["Base", "make_engine", "make_session_factory", "transaction"]

# Stable constraint names, so Alembic migrations can refer to them on every database.
_NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=_NAMING)


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    # SQLAlchemy, not pysqlite, decides when transactions begin (see _sqlite_begin)
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


def _sqlite_begin_immediate(connection: Any) -> None:
    # Every transaction takes SQLite's write lock up front. A deferred transaction that read first and
    # writes later can find its snapshot stale once another writer committed (SQLITE_BUSY_SNAPSHOT, which
    # no retry of the statement can cure); taking the lock first serialises writers cleanly, as one
    # embedded database file needs anyway. PostgreSQL is the choice for concurrent issuer nodes.
    connection.exec_driver_sql("BEGIN IMMEDIATE")


def _sqlite_begin_deferred(connection: Any) -> None:
    connection.exec_driver_sql("BEGIN")


def make_engine(url: str, *, read_only: bool = False) -> Engine:
    """An engine for ``url`` (``sqlite:///path`` or ``postgresql+psycopg://…``).

    ``read_only`` (SQLite only matters): transactions that never write begin deferred, taking no write
    lock — for reads made while a request transaction of the same process may hold it (the key ring).
    A failed statement's error never quotes its values (``hide_parameters``): errors reach the log.
    """
    if url.startswith("sqlite"):
        engine = create_engine(
            url, connect_args={"check_same_thread": False, "timeout": 10}, hide_parameters=True
        )
        event.listen(engine, "connect", _sqlite_pragmas)
        event.listen(engine, "begin", _sqlite_begin_deferred if read_only else _sqlite_begin_immediate)
        return engine
    return create_engine(url, pool_size=10, max_overflow=10, pool_pre_ping=True, hide_parameters=True)


def make_session_factory(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(engine, expire_on_commit=False)


@contextmanager
def transaction(factory: sessionmaker[Session]) -> Iterator[Session]:
    """One unit of work: commit on success, roll back on any exception (then re-raise)."""
    session = factory()
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()
