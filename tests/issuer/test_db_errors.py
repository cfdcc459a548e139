"""A failed statement's error never quotes its values: errors reach the issuer's log and error answers."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError

from issuer_service.db.base import make_engine


@pytest.mark.parametrize("read_only", [False, True])
def test_sqlite_errors_hide_statement_values(tmp_path: Path, read_only: bool) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'issuer.db'}", read_only=read_only)
    secret = "110101199003074477"  # what a bug might try to write: it must not come back in the message
    with engine.begin() as connection:
        connection.execute(text("CREATE TABLE t (v TEXT NOT NULL UNIQUE)"))
        connection.execute(text("INSERT INTO t VALUES (:v)"), {"v": secret})
    with pytest.raises(IntegrityError) as caught, engine.begin() as connection:
        connection.execute(text("INSERT INTO t VALUES (:v)"), {"v": secret})
    message = str(caught.value)
    assert "UNIQUE" in message and "hidden due to hide_parameters" in message  # the error is still useful
    assert secret not in message
    engine.dispose()
