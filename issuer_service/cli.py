"""``netid-issuer``: run and administer the issuer.

  netid-issuer serve            run the HTTP service (uvicorn) on NETID_ISSUER_HOST:NETID_ISSUER_PORT
  netid-issuer migrate          apply database migrations
  netid-issuer init             migrate, then create any missing key (run once per deployment)
  netid-issuer keys rotate P    sign purpose P (netcert, rp_certificate, status_list, enrollment) anew
  netid-issuer openapi [FILE]   write the OpenAPI document (default: stdout)

Settings come from NETID_ISSUER_* environment variables and NETID_ISSUER_CONFIG_FILE (TOML).
Exit codes: 0 success, 2 usage or configuration error, 3 a dependency (database, key store) failed.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
from collections.abc import Sequence

from pydantic import ValidationError

__all__ = ["main"]

EXIT_OK, EXIT_USAGE, EXIT_DEPENDENCY = 0, 2, 3


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="netid-issuer",
        description="Run and administer the NetID issuer service.",
        epilog="Settings: NETID_ISSUER_* environment variables, NETID_ISSUER_CONFIG_FILE (TOML).",
    )
    sub = parser.add_subparsers(dest="command")
    sub.add_parser("serve", help="run the HTTP service")
    sub.add_parser("migrate", help="apply database migrations")
    sub.add_parser("init", help="migrate and create any missing key")
    keys = sub.add_parser("keys", help="key management").add_subparsers(dest="keys_command", required=True)
    rotate = keys.add_parser("rotate", help="start signing a purpose with a new key")
    rotate.add_argument("purpose", choices=["netcert", "rp_certificate", "status_list", "enrollment"])
    rotate.add_argument("--publish-days", type=int, default=400, help="keep the old key published this long")
    openapi = sub.add_parser("openapi", help="write the OpenAPI document")
    openapi.add_argument("file", nargs="?", help="output file (default: stdout)")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    command = args.command or "serve"
    from issuer_service.core.config import Settings  # noqa: PLC0415 - `--help` stays fast

    try:
        settings = Settings()
    except ValidationError as exc:
        for error in exc.errors():
            where = ".".join(str(p) for p in error["loc"]) or "settings"
            print(f"netid-issuer: configuration error in {where}: {error['msg']}", file=sys.stderr)
        return EXIT_USAGE
    if command == "openapi":
        from issuer_service.main import create_app  # noqa: PLC0415

        document = json.dumps(create_app(settings).openapi(), indent=2, ensure_ascii=False) + "\n"
        if args.file:
            with open(args.file, "w", encoding="utf-8") as handle:
                handle.write(document)
        else:
            sys.stdout.write(document)
        return EXIT_OK
    try:
        return _run(command, args, settings)
    except Exception as exc:  # database drivers, key stores: one line, no traceback, exit 3
        print(f"netid-issuer: {command} failed: {type(exc).__name__}: {exc}", file=sys.stderr)
        return EXIT_DEPENDENCY


def _run(command: str, args: argparse.Namespace, settings: object) -> int:
    from issuer_service.core.config import Settings  # noqa: PLC0415
    from issuer_service.db.migrate import upgrade  # noqa: PLC0415
    from issuer_service.main import build_context, create_app  # noqa: PLC0415

    assert isinstance(settings, Settings)
    if command == "migrate":
        upgrade(settings.database_url)
        print("netid-issuer: database is up to date")
        return EXIT_OK
    if command == "init":
        upgrade(settings.database_url)
        context = build_context(settings)
        context.keys.ensure_keys()
        ring = context.keys.ring()
        print(
            "netid-issuer: keys ready: "
            + ", ".join(k["kid"] for k in ring.published)
            + f", {ring.enrollment_kid}"
        )
        return EXIT_OK
    if command == "keys":
        context = build_context(settings)
        kid = context.keys.rotate(args.purpose, publish_for=dt.timedelta(days=args.publish_days))
        print(f"netid-issuer: {args.purpose} now signs with {kid}")
        return EXIT_OK
    import uvicorn  # noqa: PLC0415

    uvicorn.run(
        create_app(settings),
        host=settings.host,
        port=settings.port,
        log_config=None,  # the service logs JSON itself (issuer_service.core.logging)
        timeout_graceful_shutdown=10,
    )
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
