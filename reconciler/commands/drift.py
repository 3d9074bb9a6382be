from __future__ import annotations


def run(paths, target, fmt, out_file, fail_on_unmanaged, verbose, timeout) -> int:
    raise NotImplementedError("drift")
