"""An example relying party: a small web shop that signs customers in with NetID, gates a page at 18,
checks a typed name, and verifies customers in person at a desk.

It is what an app developer builds on :mod:`netid.verifier.http` (``pip install 'netid[example]'``)::

    python -m relying_party_example register --issuer http://127.0.0.1:8000 \\
        --base-url http://127.0.0.1:8001 --out shop-rp.json     # admin token: $NETID_ISSUER_ADMIN_TOKEN
    NETID_SHOP_RP_FILE=shop-rp.json python -m relying_party_example serve

- :mod:`~relying_party_example.app` — :func:`create_app`, the pages and the mounted NetID router;
- :mod:`~relying_party_example.settings` — :class:`ShopSettings` from ``NETID_SHOP_*``;
- :mod:`~relying_party_example.register` — the shop's keys and RP access certificate from the issuer;
- :mod:`~relying_party_example.services` — its relying party and its in-person counter;
- :mod:`~relying_party_example.session` — the signed session cookie;
- :mod:`~relying_party_example.telemetry` — what OpenTelemetry may see of a request: no secret of its URL.

``make demo`` runs it against a local issuer with a simulated card and wallet; ``make serve`` leaves both
running for a person to click through.
"""

from __future__ import annotations

from relying_party_example.app import create_app
from relying_party_example.register import ShopRegistration, register
from relying_party_example.services import ShopServices, build_services
from relying_party_example.settings import ShopSettings

__all__ = ["ShopRegistration", "ShopServices", "ShopSettings", "build_services", "create_app", "register"]
