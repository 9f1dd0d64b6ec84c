"""``python -m emulators leeloo --port 8765 ...`` (see emulators/cli.py)."""
import sys

from emulators.cli import main

sys.exit(main())
