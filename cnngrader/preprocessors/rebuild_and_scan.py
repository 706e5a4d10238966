"""RebuildAndScan: the first of nbgrader's sanitize preprocessors (nbgrader_config.py), so that every
``nbgrader autograde`` — the formgrader's Autograde button, a plain command line and ``python -m
cnngrader`` alike — grades the rebuilt and scanned notebook, never the file as handed in.

For the notebook nbgrader is sanitising (``resources['nbgrader']``: student, assignment, notebook) it

- ignores the notebook nbconvert read (which may have come through a link, or be a staging copy) and
  reads the submission itself: <root>/<submitted_directory>/<student>/<assignment>/<notebook>.ipynb with
  cnngrader/scan ``load_submission`` (a regular file, no link followed anywhere below submitted/, at most
  MAX_NOTEBOOK_BYTES; anything refused or unparsable is graded as handed in blank, with the reason);
- rebuilds it on release/<assignment>/<notebook>.ipynb and scans the student's code against
  source/<assignment>/<notebook>.ipynb (cnngrader/scan ``sanitise``): the result goes on to nbgrader's
  own sanitize preprocessors, with the exercises to zero in the notebook metadata (``META``:
  ``not_graded``, which GuardedExecute honours);
- writes what the scan found into autograded/<student>/<assignment>.review.json (``notebooks``:
  ``scan`` and ``owner``, merged with what is there: python -m cnngrader adds the runtime findings and
  the review reasons after grading);
- writes the grader's files next to the graded notebook: timestamp.txt (when the notebook reached
  submitted/: its inode change time, never a file of the student's) and the exchange's
  submission_secret.txt (read as a regular file), which feedback and release_feedback need. nbgrader's
  own copy of the submission folder is switched off for submitted/ (nbgrader_config.py), since it follows
  links and reads devices.

A student listed in ``trusted_students`` (after a manual review found the code honest; ``python -m
cnngrader --trust STUDENT`` sets it for that student's command) has the flagged code run as written.
"""
from __future__ import annotations

import json
import os
from pathlib import Path

from nbformat import from_dict
from nbformat.v4.rwbase import rejoin_lines
from nbgrader.preprocessors import NbGraderPreprocessor
from traitlets import List, Unicode

from cnngrader import scan as sc

#: what the exchange writes next to a submission and the grader keeps (it names the feedback file)
SECRET = "submission_secret.txt"
SECRET_BYTES = 4096


class RebuildAndScan(NbGraderPreprocessor):
    """Replace the notebook by the submission rebuilt on the release and scanned (see the module docstring)."""

    submitted_directory = Unicode(
        "submitted",
        help="The folder of the students' submissions, relative to the course root (CourseDirectory.root): "
             "the notebook graded is read from <root>/<submitted_directory>/<student>/<assignment>/<notebook>"
             ".ipynb, whatever folder nbgrader converts (python -m cnngrader points nbgrader at a staging copy).",
    ).tag(config=True)

    trusted_students = List(
        Unicode(),
        help="Students whose code runs as written even where the scan flags it (after a manual review found it "
             "honest). `python -m cnngrader --trust STUDENT` sets it for that student's autograde command.",
    ).tag(config=True)

    def _coursedir(self):
        """nbgrader's CourseDirectory of the converter running this (exporter -> converter), if any."""
        node = self.parent
        while node is not None:
            coursedir = getattr(node, "coursedir", None)
            if coursedir is not None:
                return coursedir
            node = getattr(node, "parent", None)
        return None

    def preprocess(self, nb, resources):
        info = resources["nbgrader"]
        student, assignment, name = info["student"], info["assignment"], info["notebook"]
        coursedir = self._coursedir()
        root = Path(coursedir.root if coursedir is not None else os.getcwd()).absolute()

        def folder(step: str, student_id: str = ".") -> Path:
            if coursedir is None:
                return root / step / student_id / assignment
            return Path(coursedir.format_path(step, student_id, assignment))

        release = folder(coursedir.release_directory if coursedir else "release") / f"{name}.ipynb"
        source = folder(coursedir.source_directory if coursedir else "source") / f"{name}.ipynb"
        for path in (release, source):
            if not path.is_file():
                raise FileNotFoundError(f"{path} is missing: the notebook {name}.ipynb of {assignment} must be in "
                                        f"source/ and release/ (run `make release`)")
        top = root / self.submitted_directory
        submitted = top / student / assignment / f"{name}.ipynb"
        trust = student in self.trusted_students
        submission, why = sc.load_submission(submitted, trusted=top)
        source_nb = json.loads(source.read_text())
        out, report = sc.sanitise(submission, json.loads(release.read_text()), source_nb, trust)
        if why:
            report.notes.insert(0, why)
            self.log.warning("%s of %s: %s (graded as handed in blank)", name, student, why)
        for label, items in report.findings.items():
            self.log.warning("%s of %s: %s: %s%s", name, student, label, items[0],
                             " (trusted: run as written)" if trust else " (not run)")
        graded = folder(coursedir.autograded_directory if coursedir else "autograded", student)
        self._write_review(graded.parent / f"{assignment}.review.json", student, assignment, name, trust,
                           {"scan": report.to_dict(), "owner": sc.exercises(source_nb)[1]})
        self._write_grader_files(graded, top, submitted)
        # (as nbformat reads a file: each cell's source one string, not the file's list of lines)
        return rejoin_lines(from_dict(out)), resources

    @staticmethod
    def _write_review(path: Path, student: str, assignment: str, name: str, trust: bool, entry: dict) -> None:
        try:
            review = json.loads(path.read_text())
            if not isinstance(review, dict) or not isinstance(review.get("notebooks"), dict):
                raise ValueError
        except (OSError, ValueError):
            review = {"notebooks": {}, "notes": []}
        review.update(student=student, assignment=assignment, trusted=trust)
        review["notebooks"][name] = entry
        _write(path, json.dumps(review, indent=1))

    @staticmethod
    def _write_grader_files(graded: Path, top: Path, submitted: Path) -> None:
        # (the grader's time as python -m cnngrader's staging writes it: same notebook, same string)
        from cnngrader.run.staging import submitted_time

        _write(graded / "timestamp.txt", submitted_time(submitted) + "\n")
        data, _ = sc.read_regular(submitted.parent / SECRET, SECRET_BYTES, trusted=top)
        if data is not None:
            _write(graded / SECRET, data.decode("utf-8", "replace"))


def _write(path: Path, text: str) -> None:
    """Write ``path`` (in a folder of the grader's) whole or not at all, replacing a read-only file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}")
    tmp.write_text(text)
    os.replace(tmp, path)
