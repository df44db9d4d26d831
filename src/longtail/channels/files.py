"""Email as `.eml` files in a folder: previews, and the safe default (nothing leaves the machine)."""

from __future__ import annotations

import hashlib
import os
import re
import tempfile
from pathlib import Path

from longtail.channels import TransientError
from longtail.channels.smtp import email_bytes
from longtail.store.outbox import OutboxRow

_UNSAFE = re.compile(r"[^A-Za-z0-9._-]")


def file_name(key: str) -> str:
    """`<key>.eml`; unsafe characters are replaced and a hash of the key added so two keys never share a file."""
    safe = _UNSAFE.sub("_", key)
    if safe != key:
        safe += "-" + hashlib.sha256(key.encode("utf-8")).hexdigest()[:12]
    return safe + ".eml"


class FileChannel:
    """Write each email to `<dir>/<key>.eml`; a re-send overwrites the same file."""

    def __init__(self, directory: Path, from_addr: str) -> None:
        self.directory = directory
        self.from_addr = from_addr

    def send(self, row: OutboxRow) -> None:
        """Write the message atomically: a reader never sees half a file, a crash leaves no partial one."""
        data = email_bytes(row, self.from_addr)
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=self.directory, prefix=".tmp-", suffix=".eml")
            try:
                with os.fdopen(fd, "wb") as fh:
                    fh.write(data)
                    fh.flush()
                    os.fsync(fh.fileno())
                os.replace(tmp, self.directory / file_name(row.key))
            except BaseException:
                Path(tmp).unlink(missing_ok=True)
                raise
        except OSError as exc:
            raise TransientError(f"cannot write {self.directory / file_name(row.key)}: {exc}") from exc

    def close(self) -> None:
        """Nothing is kept open."""
