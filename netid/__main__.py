"""``python -m netid``: the ``netid`` command."""

import sys

from netid.cli import main

sys.exit(main())
