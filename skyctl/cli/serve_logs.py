"""`skyctl serve logs`: print log files, and with --follow keep printing new lines until Ctrl-C or until
the service is taken down (a bounded loop: it never outlives its service)."""

from __future__ import annotations

import sys
import time
from pathlib import Path

POLL_S = 0.5


def stream(name: str, files: list[Path], *, follow: bool) -> None:
    from skyctl.serve import service

    offsets = {path: 0 for path in files}
    prefix = len(files) > 1
    while True:
        for path in files:
            offsets[path] = _emit(path, offsets[path], f"({path.stem}) " if prefix else "")
        if not follow:
            return
        time.sleep(POLL_S)
        if not service.is_up(name):
            return


def _emit(path: Path, offset: int, prefix: str) -> int:
    try:
        with path.open("rb") as f:
            f.seek(offset)
            data = f.read()
    except FileNotFoundError:
        return offset
    if data:
        text = data.decode("utf-8", "replace")
        if prefix:
            text = "".join(prefix + line for line in text.splitlines(keepends=True))
        sys.stdout.write(text)
        sys.stdout.flush()
    return offset + len(data)
