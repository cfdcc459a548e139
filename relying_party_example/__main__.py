"""``python -m relying_party_example``: ``serve`` the shop, or ``register`` it with an issuer.

  serve       run the shop (uvicorn) on NETID_SHOP_HOST:NETID_SHOP_PORT; settings from NETID_SHOP_*
  register    create the shop's keys, register it with the issuer (POST /admin/rps) and write the file
              serve reads (--out, default shop-rp.json)

Exit codes: 0 success, 2 usage or configuration error, 3 the issuer refused or could not be reached.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
from collections.abc import Sequence

__all__ = ["main"]

EXIT_OK, EXIT_USAGE, EXIT_ISSUER = 0, 2, 3
ADMIN_TOKEN_ENV = "NETID_ISSUER_ADMIN_TOKEN"  # noqa: S105 - the variable's name, not a token


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m relying_party_example",
        description="The example shop: a NetID relying party.",
        epilog="serve reads NETID_SHOP_* environment variables (see relying_party_example/settings.py).",
    )
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("serve", help="run the shop")
    register = sub.add_parser("register", help="register the shop with an issuer and write its key file")
    register.add_argument("--issuer", required=True, help="the issuer's URL, e.g. http://127.0.0.1:8000")
    register.add_argument(
        "--admin-token",
        help=f"the issuer's admin token (default: ${ADMIN_TOKEN_ENV}; an argument is visible to other users)",
    )
    register.add_argument(
        "--base-url", default="http://127.0.0.1:8001", help="the shop's public origin (default %(default)s)"
    )
    register.add_argument("--out", default="shop-rp.json", help="the file to write (default %(default)s)")
    register.add_argument("--rp-id", default="shop.example", help="the shop's RP id and sector")
    return parser


def _register(args: argparse.Namespace) -> int:
    from relying_party_example.register import RegistrationError, register  # noqa: PLC0415

    token = args.admin_token or os.environ.get(ADMIN_TOKEN_ENV)
    if not token:
        print(f"register: give --admin-token or set ${ADMIN_TOKEN_ENV}", file=sys.stderr)
        return EXIT_USAGE
    try:
        registration = register(
            issuer_url=args.issuer, admin_token=token, base_url=args.base_url, rp_id=args.rp_id
        )
    except RegistrationError as exc:
        print(f"register: the issuer refused ({exc.code}): {exc.message}", file=sys.stderr)
        return EXIT_ISSUER
    path = registration.save(args.out)
    print(f"registered {registration.rp_id} with {registration.issuer_url}; keys and certificate in {path}")
    return EXIT_OK


def _serve() -> int:
    import uvicorn  # noqa: PLC0415

    from relying_party_example.app import create_app  # noqa: PLC0415
    from relying_party_example.logs import configure_logging  # noqa: PLC0415
    from relying_party_example.register import ShopRegistration  # noqa: PLC0415
    from relying_party_example.settings import SettingsError, ShopSettings  # noqa: PLC0415

    try:
        settings = ShopSettings.from_env()
        registration = ShopRegistration.load(settings.rp_file)
    except (SettingsError, ValueError) as exc:
        print(f"serve: {exc}", file=sys.stderr)
        return EXIT_USAGE
    configure_logging(settings.log_file)
    base = settings.base_url or registration.base_url
    port = settings.port
    if port is None:
        from urllib.parse import urlsplit  # noqa: PLC0415

        port = urlsplit(base).port or (443 if base.startswith("https://") else 80)
    if settings.ephemeral_secret:
        print("serve: no NETID_SHOP_SESSION_SECRET: sessions end with this process", file=sys.stderr)
    app = create_app(settings)
    # uvicorn shuts down gracefully on SIGTERM and then raises the signal again under the handler it found:
    # with this one (not the default, which would kill us) the process ends with 0
    signal.signal(signal.SIGTERM, lambda _signum, _frame: None)
    uvicorn.run(
        app, host=settings.host, port=port, log_config=None, access_log=False, timeout_graceful_shutdown=5
    )
    return EXIT_OK


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.command == "register":
        return _register(args)
    return _serve()


if __name__ == "__main__":
    sys.exit(main())
