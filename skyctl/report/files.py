"""Report files are written whole or not at all: a cron job's reader never sees half a page."""

from __future__ import annotations

import os
from pathlib import Path

from skyctl.errors import UserError


def write_atomic(path: Path, text: str, option: str) -> None:
    """Write `text` to a temporary file beside `path`, fsync it, then rename it over `path`."""
    path = path.expanduser()
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with open(tmp, "w", encoding="utf-8", newline="") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except OSError as e:
        tmp.unlink(missing_ok=True)
        raise UserError("cannot write the file", field=option, value=str(path),
                        fix=f"{e.strerror or e}; choose a writable path") from None
