"""``python -m messaging.cli``: the ``liaison`` command."""

import sys

from messaging.cli import main

# Guarded: ``serve --workers N`` spawns its workers, and a spawned process imports the parent's
# main module again (as ``__mp_main__``); unguarded, each worker would run the command anew.
if __name__ == "__main__":
    sys.exit(main())
