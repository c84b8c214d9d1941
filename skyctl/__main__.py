"""`python -m skyctl` is the same as the `skyctl` command."""

import sys

from skyctl.cli.main import run

sys.exit(run())
