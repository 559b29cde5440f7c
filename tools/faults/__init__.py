"""The fault suite: ``make faults`` (``python -m tools.faults``); the code is in ``lab`` for now."""

from tools.faults.lab import CASES, SHORT_CASES, CaseResult, Lab, main, run_case

__all__ = ["CASES", "SHORT_CASES", "CaseResult", "Lab", "main", "run_case"]
