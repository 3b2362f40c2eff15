"""``python -m messaging.cli``: the ``liaison`` command."""

import sys

from messaging.cli import main

sys.exit(main())
