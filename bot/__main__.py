"""``python -m bot``: the same as the ``herald`` command."""

import sys

from bot.cli import main

sys.exit(main())
