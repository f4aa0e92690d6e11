"""A process's own peak resident memory, for the benchmarks that run in a fresh interpreter.

On Linux, ru_maxrss is carried across exec: a child started by a process that once held
1.8 GB reports at least 1.8 GB, whatever it uses itself. The process's own high-water mark
is VmHWM in /proc/self/status, which starts again with the new program; ru_maxrss stands in
where there is no /proc (macOS, where a child starts afresh anyway).
"""

from __future__ import annotations

import resource
import sys
from pathlib import Path

_STATUS = Path("/proc/self/status")


def peak_rss_bytes() -> int:
    try:
        for line in _STATUS.read_text(encoding="ascii").splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024  # "VmHWM:  38912 kB"
    except OSError:
        pass
    scale = 1 if sys.platform == "darwin" else 1024  # ru_maxrss: bytes on macOS, KiB on Linux
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * scale
