"""Write the hostile class of tests/hostile/corpus.py into a course folder (used by tests/test_hostile.py;
by hand: python tests/hostile/build.py DEST [STUDENT ...] writes DEST/<student>/05_exercises/)."""
from __future__ import annotations

import json
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
sys.path.insert(0, str(HERE.parent))

from hostile import corpus  # noqa: E402
from submissions.a05_exercises import ASSIGNMENT, NOTEBOOK  # noqa: E402


def _make_submissions():
    from conftest import load_script

    return load_script("make_submissions")


def write_class(dest: Path, root: Path = ROOT, students: list[str] | None = None,
                targets: list[tuple[str, str, int | str]] = ()) -> list[str]:
    """Write the corpus (or the named ``students``); ``targets``: the (kind, host, port or socket name)
    the network attacks try to reach (tests/test_hostile.py's listeners), written into their code."""
    ms = _make_submissions()
    unknown = sorted(set(students or ()) - set(corpus.STUDENTS))
    if unknown:
        raise SystemExit(f"no such hostile student: {unknown} (tests/hostile/corpus.py has {sorted(corpus.STUDENTS)})")
    release_nb = json.loads((root / "release" / ASSIGNMENT / f"{NOTEBOOK}.ipynb").read_text())
    source_nb = json.loads((root / "source" / ASSIGNMENT / f"{NOTEBOOK}.ipynb").read_text())
    written = []
    for name, st in corpus.STUDENTS.items():
        if students and name not in students:
            continue
        folder = dest / name / ASSIGNMENT
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"{NOTEBOOK}.ipynb"
        if st.make is not None:  # a link or a pipe instead of a notebook
            st.make(path, root)
        elif st.raw is not None:
            path.write_bytes(st.raw)
        else:
            nb = ms.build(release_nb, source_nb, st.answers, corpus.SOLUTION, corpus.BLANK)
            if st.edit:
                nb = st.edit(nb)
            for cell in nb["cells"]:
                text = "".join(cell["source"])
                if corpus.TARGETS_TOKEN in text:
                    cell["source"] = text.replace(corpus.TARGETS_TOKEN, repr([tuple(t) for t in targets]))
            path.write_text(json.dumps(nb, indent=1) + "\n")
        for rel, text in st.files.items():
            (folder / rel).parent.mkdir(parents=True, exist_ok=True)
            (folder / rel).write_text(text)
        written.append(name)
    return written


if __name__ == "__main__":
    print(write_class(Path(sys.argv[1]), students=sys.argv[2:] or None))
