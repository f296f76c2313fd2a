"""python -m booktools ...: the same as the `tfbook` command."""

import sys

from booktools.cli import main

if __name__ == "__main__":
    sys.exit(main())
