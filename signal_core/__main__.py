"""``python -m signal_core``: see :mod:`signal_core.cli`."""

import sys

from signal_core.cli import main

sys.exit(main())
