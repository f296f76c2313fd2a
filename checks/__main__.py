"""python -m checks NN [NOTEBOOK] [--json FILE] [--preset NAME] [--timeout S]"""
import sys

from tfbook.cli import main

if __name__ == "__main__":
    sys.exit(main(["check", *sys.argv[1:]]))
