"""Create a user and print its first API key: ``python scripts/create_user.py --username U --password P``."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from api.cli import main  # noqa: E402

if __name__ == "__main__":
    raise SystemExit(main(["users", "create", *sys.argv[1:]]))
