"""``python -m tools.faults``: the fault suite's command line (``make faults``)."""

from tools.faults.cli import main

raise SystemExit(main())
