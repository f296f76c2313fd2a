"""python -m checks NN [NOTEBOOK] [--json FILE] [--preset NAME] [--timeout S]"""

import sys

from checks.cli import main

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
