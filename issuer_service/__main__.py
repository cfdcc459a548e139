"""``python -m issuer_service``: the ``netid-issuer`` command (``serve`` by default)."""

import sys

from issuer_service.cli import main

sys.exit(main())
