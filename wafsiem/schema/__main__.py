"""``python -m wafsiem.schema --write|--check``."""

from __future__ import annotations

import argparse
import sys

from wafsiem.schema.generated import stale_generated_files, write_generated_files


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m wafsiem.schema", description=__doc__)
    group = parser.add_mutually_exclusive_group(required=True)
    group.add_argument("--write", action="store_true", help="regenerate the generated files")
    group.add_argument("--check", action="store_true", help="fail if a generated file is stale")
    args = parser.parse_args(argv)
    if args.write:
        for path in write_generated_files():
            sys.stdout.write(f"wrote {path}\n")
        return 0
    stale = stale_generated_files()
    for path in stale:
        sys.stderr.write(f"stale: {path} (run python -m wafsiem.schema --write)\n")
    return 1 if stale else 0


if __name__ == "__main__":
    sys.exit(main())
