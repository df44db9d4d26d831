"""The rejects file: every row we did not load, with file, line, field and reason."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import TextIO

from longtail.ingest.validate import Reject

HEADER = ("source_file", "line", "field", "reason", "value")


class RejectsWriter:
    """Writes rejects as CSV, creating the file only when the first reject arrives."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._fh: TextIO | None = None
        self._writer: csv.DictWriter[str] | None = None
        self.rows = 0

    def write(self, source: Path, rejects: list[Reject]) -> None:
        if not rejects:
            return
        if self._writer is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._fh = self.path.open("w", encoding="utf-8", newline="")
            self._writer = csv.DictWriter(self._fh, fieldnames=HEADER)
            self._writer.writeheader()
        for r in rejects:
            self._writer.writerow(
                {"source_file": str(source), "line": r.line, "field": r.field, "reason": r.reason, "value": r.value}
            )
        self.rows += len(rejects)

    @property
    def written(self) -> Path | None:
        return self.path if self._writer is not None else None

    def close(self) -> None:
        if self._fh is not None:
            self._fh.close()
