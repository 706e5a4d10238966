"""SubmissionExporter: nbconvert's notebook exporter for ``nbgrader autograde``, reading a notebook file the
way the grader reads what a student hands in (nbgrader_config.py: ``Autograde.exporter_class``).

nbconvert's own ``from_filename`` opens the file as given: through a symbolic link (the solutions in
source/, another student's notebook), blocking forever on a named pipe, reading a device or a huge file
to the end, and a notebook nested too deeply ends the student's grading with a RecursionError. This one
reads with ``read_regular`` (no link below the step folder — submitted/, the grader's staging copy or
autograded/ — no fifo, device or socket, at most MAX_NOTEBOOK_BYTES) and hands nbconvert a blank notebook
for anything it refuses or cannot parse. What is graded is decided by the RebuildAndScan sanitize
preprocessor, which reads the submission again itself; this exporter only keeps nbconvert's read from
hanging or failing first."""
from __future__ import annotations

import datetime
import json
from pathlib import Path

import nbformat
from nbconvert.exporters import NotebookExporter
from nbconvert.exporters.exporter import ResourcesDict
from nbformat.v4.rwbase import rejoin_lines

from cnngrader.scan.files import load_submission


def step_folder(path: Path) -> Path:
    """The folder nbgrader's <step>/<student>/<assignment>/<notebook>.ipynb starts from (its
    ``directory_structure``): no link is followed below it."""
    return path.parents[2] if len(path.parents) > 3 else path.parent


class SubmissionExporter(NotebookExporter):
    """nbconvert's NotebookExporter, reading the notebook as a regular file (see the module docstring)."""

    def from_filename(self, filename: str, resources: dict | None = None, **kw):
        path = Path(filename).absolute()
        if resources is None:
            resources = ResourcesDict()
        if not resources.get("metadata"):
            resources["metadata"] = ResourcesDict()
        resources["metadata"]["name"] = path.stem
        resources["metadata"]["path"] = str(path.parent)
        try:
            mtime = path.lstat().st_mtime
        except OSError:
            mtime = 0.0
        when = datetime.datetime.fromtimestamp(mtime, tz=datetime.timezone.utc)
        resources["metadata"]["modified_date"] = when.strftime("%B %-d, %Y")
        nb, why = load_submission(path, trusted=step_folder(path))
        node = None
        if nb is not None:
            try:
                # a version-4 notebook as nbformat reads it, without its schema validation (which only
                # warns, and costs ~10x the parse on a notebook with outputs); older ones converted
                node = rejoin_lines(nbformat.from_dict(nb)) if nb.get("nbformat") == 4 else \
                    nbformat.reads(json.dumps(nb), as_version=4)
            except Exception as err:  # noqa: BLE001 (any notebook nbformat cannot take is graded blank)
                why = f"the notebook cannot be read ({type(err).__name__}: {str(err)[:100]})"
        if node is None:
            self.log.warning("%s: %s; a blank notebook goes on to the preprocessors", path.name, why)
            node = nbformat.v4.new_notebook()
        return self.from_notebook_node(node, resources=resources, **kw)
