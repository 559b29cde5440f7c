"""The fault suite: ``make faults`` (``python -m tools.faults``). See ``tools.faults.cli``.

- ``lab``: constants, results, the event follower, the origin and stacks, reaping processes;
- ``rest``: the REST helpers; ``measure``: media lost, checks of files, collecting results;
- ``runner``: what a case is, the common shape of a fault case, running one case;
- ``cases``: one module per case (or family), registered in one ordered table (``CASES``);
- ``report``: docs/RELIABILITY.md; ``cli``: the command line (``__main__``).
"""

from tools.faults.cases import CASES, SHORT_CASES
from tools.faults.cli import main, run
from tools.faults.lab import CaseResult, FileCheck, Lab
from tools.faults.report import report, table
from tools.faults.runner import Case, run_case

__all__ = [
    "CASES",
    "SHORT_CASES",
    "Case",
    "CaseResult",
    "FileCheck",
    "Lab",
    "main",
    "report",
    "run",
    "run_case",
    "table",
]
