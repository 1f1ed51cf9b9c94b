"""`ftstudio` / `python -m ftstudio`: the studio window, or a headless command (see cli.py)."""
from __future__ import annotations

import sys


def main(argv: list[str] | None = None) -> int:
    from ftstudio.cli import main as cli_main

    return cli_main(argv)


if __name__ == "__main__":
    sys.exit(main())
