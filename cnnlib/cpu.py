"""The course's CPU thread policy, in one place: what every torch process of the course runs with.

``POLICY`` makes idle OpenMP threads sleep instead of spinning. PyTorch's OpenMP threads busy-wait for
work between parallel regions; when two course kernels (two notebooks training, or two grading kernels)
share two cores, each one's spinning threads steal the cores the other needs, and both slow down far
more than the 2x a fair share costs. Passive waiting costs nothing alone and keeps two kernels at
about 2x each (measured by scripts/bench_training.py; figures in BENCHMARKS.md).

OpenMP reads the variable once, when torch loads it, so it must be in the environment before
``import torch``. It reaches:
    the course kernel   its kernelspec's "env" (``python -m cnnlib.cpu kernelspec``, run by ``make setup``)
    grading kernels     scripts/autograde.py builds their environment with `apply`;
                        scripts/sandbox_kernel.py lets ``POLICY``'s names through
    the test suite      tests/conftest.py calls `apply` before anything imports torch
A value already set (by an instructor, say) is kept.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import warnings
from collections.abc import MutableMapping
from pathlib import Path

#: Environment variables for every torch process of the course (read by OpenMP when torch is imported).
POLICY = {"OMP_WAIT_POLICY": "PASSIVE"}
#: The course's Jupyter kernel (registered by `make setup`).
KERNEL = "cnn-course"


def apply(environ: MutableMapping[str, str] | None = None) -> MutableMapping[str, str]:
    """Add ``POLICY`` to ``environ`` (default: this process's ``os.environ``), keeping values already set.
    Returns ``environ``. Too late for this process if torch is already imported (a warning says so)."""
    if environ is None:
        environ = os.environ
        if "torch" in sys.modules and any(k not in environ for k in POLICY):
            warnings.warn("cnnlib.cpu.apply() after `import torch`: OpenMP has already read its settings; "
                          "call it before torch is imported", RuntimeWarning, stacklevel=2)
    for key, value in POLICY.items():
        environ.setdefault(key, value)
    return environ


def kernelspec_file(name: str = KERNEL, prefix: str | Path = sys.prefix) -> Path:
    """kernel.json of the kernelspec ``name`` installed with ``ipykernel install --sys-prefix``."""
    return Path(prefix) / "share" / "jupyter" / "kernels" / name / "kernel.json"


def write_kernelspec(path: str | Path) -> dict:
    """Put ``POLICY`` into the "env" of the kernelspec file ``path`` (other keys kept); returns the spec."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no kernelspec there; register the kernel first (make setup runs "
                                f"`python -m ipykernel install --sys-prefix --name {KERNEL}`)")
    spec = json.loads(path.read_text())
    spec["env"] = {**spec.get("env", {}), **POLICY}
    path.write_text(json.dumps(spec, indent=1) + "\n")
    return spec


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m cnnlib.cpu", description="The course's CPU thread policy.")
    sub = parser.add_subparsers(dest="command", required=True)
    ks = sub.add_parser("kernelspec", help="write the policy into an installed kernelspec's env")
    ks.add_argument("name", nargs="?", default=KERNEL)
    ks.add_argument("--prefix", default=sys.prefix, help="the environment the kernel is installed in")
    sub.add_parser("show", help="print the policy as shell assignments")
    args = parser.parse_args(argv)
    if args.command == "show":
        print(" ".join(f"{k}={v}" for k, v in POLICY.items()))
        return 0
    path = kernelspec_file(args.name, args.prefix)
    try:
        spec = write_kernelspec(path)
    except FileNotFoundError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    print(f"{path}: env {spec['env']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
