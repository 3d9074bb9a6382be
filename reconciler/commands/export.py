from __future__ import annotations


def run(models, out_dir, by, target, verbose, timeout) -> int:
    raise NotImplementedError("export")
