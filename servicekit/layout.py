"""Where the recordings live under OUTPUT_DIR, for both services that touch them: the recorder
(whose ``recorder_service.paths`` owns the rest of the layout, ``records/{person}/{file}``) and
the gateway (which serves the files and imports nothing of the recorder)."""

from __future__ import annotations

from pathlib import Path

#: The recordings' folder under OUTPUT_DIR; also the first part of every stored recording path.
RECORDS = "records"


def records_root(output_dir: Path) -> Path:
    """``OUTPUT_DIR/records``: one folder per person below it."""
    return output_dir / RECORDS
