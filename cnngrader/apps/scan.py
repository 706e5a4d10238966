"""What the scan finds in submitted notebooks, without grading them (cnngrader/scan/).

    python -m cnngrader.apps.scan submitted/bob/05_exercises/exercises.ipynb
    python -m cnngrader.apps.scan --root /srv/course submitted/*/05_exercises/exercises.ipynb

Each notebook is read as the grader reads it (a regular file, no link followed, size capped), rebuilt on
release/<assignment>/<notebook>.ipynb and scanned; the exit code is 1 when any notebook was flagged.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from cnngrader.scan import load_submission, sanitise

#: the repository (the default course folder)
ROOT = Path(__file__).resolve().parents[2]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("notebook", type=Path, nargs="+")
    ap.add_argument("--root", type=Path, default=ROOT, help="course folder with source/ and release/")
    args = ap.parse_args(argv)
    flagged = 0
    for path in args.notebook:
        assignment = path.absolute().parent.name
        released = args.root / "release" / assignment / path.name
        if not released.is_file():
            ap.error(f"{path}: there is no {released} (a submitted notebook lives in "
                     f"submitted/<student>/<assignment>/, named as the released one)")
        release_nb = json.loads(released.read_text())
        source_nb = json.loads((args.root / "source" / assignment / path.name).read_text())
        nb, reason = load_submission(path)
        _, report = sanitise(nb, release_nb, source_nb)
        print(f"{path}: {'flagged' if report.findings else 'nothing found'}{'; ' + reason if reason else ''}")
        for label, items in report.findings.items():
            print(f"  {label}:")
            for item in items:
                print(f"    {item}")
        flagged += bool(report.findings)
    return 1 if flagged else 0


if __name__ == "__main__":
    sys.exit(main())
