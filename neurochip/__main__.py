"""`python -m neurochip`: the same entry point as the `neurochip` script."""

import sys

from neurochip.cli.main import main

sys.exit(main())
