"""``netid-issuer``: run and administer the issuer.

  netid-issuer serve            run the HTTP service (uvicorn) on NETID_ISSUER_HOST:NETID_ISSUER_PORT
  netid-issuer migrate          apply database migrations
  netid-issuer init             migrate, then create any missing key (run once per deployment)
  netid-issuer keys rotate P    sign purpose P (netcert, rp_certificate, status_list, enrollment) anew
  netid-issuer keys rotate-kek  a new key-encryption key for person records; re-wrap them all under it
  netid-issuer keys rewrap      re-wrap person records still under an older key-encryption key
  netid-issuer rp register …    register a relying party; print its RP access certificate
  netid-issuer purge            delete expired challenges, codes, tokens, nonces (the server: hourly)
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
    sub.add_parser("purge", help="delete expired enrollment challenges, codes, tokens and nonces now")
    keys = sub.add_parser("keys", help="key management").add_subparsers(dest="keys_command", required=True)
    rotate = keys.add_parser("rotate", help="start signing a purpose with a new key")
    rotate.add_argument("purpose", choices=["netcert", "rp_certificate", "status_list", "enrollment"])
    rotate.add_argument(
        "--publish-days",
        type=int,
        default=None,
        help="keep the old key published this long (default: the longest validity of what it signed)",
    )
    keys.add_parser(
        "rotate-kek",
        help="make a new key-encryption key for person records current and re-wrap every record under it",
    )
    keys.add_parser("rewrap", help="re-wrap person records still under an older key-encryption key")
    rp = sub.add_parser("rp", help="RP registry").add_subparsers(dest="rp_command", required=True)
    register = rp.add_parser(
        "register",
        help="register a relying party; print its RP access certificate (POST /admin/rps does the same)",
    )
    register.add_argument(
        "--rp-id", required=True, help="the RP id (its client_id is verifier_attestation:ID)"
    )
    register.add_argument("--name", required=True, help="display name shown to the holder")
    register.add_argument("--sector", required=True, help="pairwise-subject sector")
    register.add_argument(
        "--predicate", action="append", default=[], help="a scope it may ask, e.g. age_over_18 (repeat)"
    )
    register.add_argument(
        "--purpose", action="append", required=True, help="a purpose shown at consent (repeat)"
    )
    register.add_argument("--response-uri", action="append", required=True, help="a response URI (repeat)")
    register.add_argument(
        "--request-jwk", required=True, help="file with the RP's request-signing public JWK"
    )
    register.add_argument(
        "--processor", required=True, help="legal name of the personal-information processor"
    )
    register.add_argument("--contact", required=True, help="how the holder reaches the processor")
    register.add_argument(
        "--retention", required=True, help='how long the RP keeps what it learns, e.g. "30 days"'
    )
    register.add_argument("--netno-allowed", action="store_true", help="authorised for the global netno")
    openapi = sub.add_parser("openapi", help="write the OpenAPI document")
    openapi.add_argument("file", nargs="?", help="output file (default: stdout)")
    return parser


#: the issuer URL the exported OpenAPI document (specs/openapi.json) is made with
OPENAPI_ISSUER_URL = "https://issuer.example"


def openapi_document() -> str:
    """The OpenAPI document as ``specs/openapi.json`` holds it: made with default settings and a fixed
    issuer URL, never this machine's environment, so that it is the same wherever it is made."""
    from issuer_service.core.config import Settings  # noqa: PLC0415
    from issuer_service.main import create_app  # noqa: PLC0415

    settings = Settings.model_construct(issuer_url=OPENAPI_ISSUER_URL)  # defaults; no environment read
    return json.dumps(create_app(settings).openapi(), indent=2, ensure_ascii=False) + "\n"


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    command = args.command or "serve"
    if command == "openapi":  # needs no configuration: the document is the same on every machine
        document = openapi_document()
        if args.file:
            with open(args.file, "w", encoding="utf-8") as handle:
                handle.write(document)
        else:
            sys.stdout.write(document)
        return EXIT_OK
    from issuer_service.core.config import Settings  # noqa: PLC0415 - `--help` stays fast

    try:
        settings = Settings()
    except ValidationError as exc:
        for error in exc.errors():
            where = ".".join(str(p) for p in error["loc"]) or "settings"
            print(f"netid-issuer: configuration error in {where}: {error['msg']}", file=sys.stderr)
        return EXIT_USAGE
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
    if command == "rp":
        return _register_rp(args, build_context(settings))
    if command == "purge":
        from issuer_service.main import purge_once  # noqa: PLC0415

        counts = purge_once(build_context(settings))
        print(
            f"netid-issuer: purged {counts.enrollments} enrollments, {counts.pre_authorized_codes} "
            f"pre-authorized codes, {counts.tokens} tokens, {counts.nonces} nonces"
        )
        return EXIT_OK
    if command == "keys" and args.keys_command in ("rotate-kek", "rewrap"):
        return _rotate_kek(build_context(settings), rotate=args.keys_command == "rotate-kek")
    if command == "keys":
        from issuer_service.services.keys import publish_for  # noqa: PLC0415

        context = build_context(settings)
        keep = (
            dt.timedelta(days=args.publish_days)
            if args.publish_days is not None
            else publish_for(args.purpose, settings)
        )
        done = context.keys.rotate(args.purpose, publish_for=keep, actor=f"cli:{_user()}", at=context.clock())
        print(f"netid-issuer: {args.purpose} now signs with {done.kid}")
        return EXIT_OK
    import signal  # noqa: PLC0415

    import uvicorn  # noqa: PLC0415

    from issuer_service.core.logging import configure_logging  # noqa: PLC0415

    configure_logging(settings.log_level, settings.log_file)
    # uvicorn shuts down gracefully on SIGTERM, then raises the signal again under the handler it found:
    # with this one (not the default, which would kill us) the process ends with 0, as orchestrators expect
    signal.signal(signal.SIGTERM, lambda _signum, _frame: None)
    uvicorn.run(
        create_app(settings),
        host=settings.host,
        port=settings.port,
        log_config=None,  # the service logs JSON itself (issuer_service.core.logging)
        access_log=False,  # replaced by issuer_service.core.logging.AccessLogMiddleware
        timeout_graceful_shutdown=10,
    )
    return EXIT_OK


def _rotate_kek(context: object, *, rotate: bool) -> int:
    """``keys rotate-kek`` (a new KEK, then re-wrap) and ``keys rewrap`` (re-wrap only), audited. Issuer
    processes take the new KEK up within 30 s (issuer_service.keys.store.RELOAD_SECONDS); a record one of
    them wrote under the old KEK meanwhile is what a later ``keys rewrap`` finds."""
    from issuer_service.core.context import IssuerContext  # noqa: PLC0415
    from issuer_service.db.base import transaction  # noqa: PLC0415
    from issuer_service.services.audit import append_audit  # noqa: PLC0415
    from issuer_service.services.persons import kek_id, rewrap_persons  # noqa: PLC0415

    assert isinstance(context, IssuerContext)
    actor = f"cli:{_user()}"
    if rotate:
        previous = kek_id(context.keystore.secret("kek"))
        current = kek_id(context.keystore.new_secret_version("kek"))
        with transaction(context.sessions) as session:
            append_audit(session, at=context.clock(), actor=actor, action="key.rotate_kek", subject=current,
                         details={"retired": previous})  # fmt: skip
        print(f"netid-issuer: person records are now wrapped with {current} (was {previous})")
    current = kek_id(context.keystore.secret("kek"))
    total = 0
    while True:
        with transaction(context.sessions) as session:
            done, remaining = rewrap_persons(session, context)
            if done:
                append_audit(session, at=context.clock(), actor=actor, action="persons.rewrap",
                             subject=current, details={"records": done})  # fmt: skip
        total += done
        if not done or not remaining:
            break
    print(f"netid-issuer: re-wrapped {total} person records under {current}; {remaining} left")
    return EXIT_OK if not remaining else EXIT_DEPENDENCY


def _user() -> str:
    """Who runs this command, for the audit log (``cli:<user>``)."""
    import getpass  # noqa: PLC0415

    try:
        return getpass.getuser()
    except (OSError, KeyError):  # a container user without a passwd entry
        return "unknown"


def _register_rp(args: argparse.Namespace, context: object) -> int:
    """``rp register``: straight into the database through the registry service (audited as
    ``cli:<user>``); the certificate goes to stdout, so a script can capture it."""

    from issuer_service.core.context import IssuerContext  # noqa: PLC0415
    from issuer_service.core.problems import Problem  # noqa: PLC0415
    from issuer_service.db.base import transaction  # noqa: PLC0415
    from issuer_service.services.registry import RpSpec, register_rp  # noqa: PLC0415

    assert isinstance(context, IssuerContext)
    try:
        with open(args.request_jwk, encoding="utf-8") as handle:
            jwk = json.load(handle)
    except (OSError, ValueError) as exc:
        print(f"netid-issuer: cannot read --request-jwk: {exc}", file=sys.stderr)
        return EXIT_USAGE
    if not isinstance(jwk, dict):
        print("netid-issuer: --request-jwk must hold one JWK (a JSON object)", file=sys.stderr)
        return EXIT_USAGE
    user = _user()
    spec = RpSpec(
        rp_id=args.rp_id, name=args.name, sector=args.sector, allowed_predicates=args.predicate,
        purposes=args.purpose, response_uris=args.response_uri, request_jwk=jwk, processor=args.processor,
        contact=args.contact, retention=args.retention, netno_allowed=args.netno_allowed,
    )  # fmt: skip
    try:
        with transaction(context.sessions) as session:
            record = register_rp(session, context, spec, actor=f"cli:{user}")
    except Problem as exc:
        print(f"netid-issuer: rp register refused ({exc.code}): {exc.detail}", file=sys.stderr)
        return EXIT_USAGE
    finally:
        context.engine.dispose()
    print(
        f"netid-issuer: registered {record.spec.rp_id}; status entry {record.status_idx} of "
        f"{record.status_uri}; certificate valid until {record.certificate_exp}",
        file=sys.stderr,
    )
    print(record.certificate)
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
