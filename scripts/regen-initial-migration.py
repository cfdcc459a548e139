"""Regenerate issuer_service's initial Alembic migration (0001) from the models.

Only while NetID has no release: once a schema has shipped, changes get their own revisions
(`alembic revision --autogenerate`), never an edited 0001. Run with the project's venv:
    .venv/bin/python scripts/regen-initial-migration.py
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
from pathlib import Path

from alembic import command

from issuer_service.db.migrate import MIGRATIONS, alembic_config

ROOT = Path(__file__).resolve().parent.parent


def main() -> None:
    target = MIGRATIONS / "versions" / "0001_initial_schema.py"
    target.unlink(missing_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        config = alembic_config(f"sqlite:///{tmp}/empty.db")
        command.revision(config, message="initial schema", autogenerate=True, rev_id="0001")
    text = target.read_text(encoding="utf-8")
    # the generation date would make every regeneration a diff
    text = "\n".join(line for line in text.splitlines() if not line.startswith("Create Date:")) + "\n"
    text = text.replace("Revises: \n", "Revises:\n")
    target.write_text(text, encoding="utf-8")
    subprocess.run([sys.executable, "-m", "ruff", "format", "-q", str(target)], check=True, cwd=ROOT)
    subprocess.run([sys.executable, "-m", "ruff", "check", "-q", "--fix", str(target)], check=True, cwd=ROOT)
    print(f"wrote {target.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
