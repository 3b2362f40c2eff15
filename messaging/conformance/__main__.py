"""``python -m messaging.conformance --write DIR | --check DIR``."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from messaging.conformance import stale, write


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m messaging.conformance", description="Liaison's conformance vectors."
    )
    action = parser.add_mutually_exclusive_group(required=True)
    action.add_argument("--write", metavar="DIR", type=Path, help="write the vector files")
    action.add_argument("--check", metavar="DIR", type=Path, help="compare them with DIR's")
    args = parser.parse_args(argv)
    if args.write is not None:
        for path in write(args.write):
            print(f"wrote {path}")
        return 0
    differing = stale(args.check)
    for name in differing:
        print(f"{args.check / name}: differs from what messaging.conformance writes")
    return 1 if differing else 0


if __name__ == "__main__":
    sys.exit(main())
