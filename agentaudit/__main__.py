"""``python -m agentaudit`` is the ``agentaudit`` command."""

from __future__ import annotations

import sys

from agentaudit.cli import main

sys.exit(main())
