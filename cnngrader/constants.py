"""Every grading constant, in one place (the apps, the plugins and nbgrader_config.py read them here).

Limits are own-time (cnngrader/cell_clock.py): what a cell would take on an idle machine."""
from __future__ import annotations

import os

#: seconds of own time per cell (nbgrader's Execute.timeout; `--timeout` changes it for one run)
CELL_TIMEOUT = 120
#: seconds of own time per notebook, restarts and replays included
NOTEBOOK_TIMEOUT = 1800
#: epochs train.fit trains at most in a grading kernel, whatever the student asked for (CNNLIB_MAX_EPOCHS)
MAX_EPOCHS = 30
#: the first of the uids grading kernels run as (one each, locked while in use) and how many there are
UID_BASE = int(os.environ.get("CNN_GRADING_UID_BASE", 61000))
UID_COUNT = 1000
#: the wall-time backstop of a cell, as a multiple of its own-time timeout
WALL_FACTOR = 6.0
#: output kept per cell, and the largest message accepted from a kernel
MAX_OUTPUT_MB = 4.0
MAX_MESSAGE_MB = 64
#: kernel restarts (after a crash or a stuck cell) per notebook
MAX_RESTARTS = 3

#: notebook metadata key the scan writes and the execute preprocessor reads
META = "cnn_grading"
#: the kernelspec name of the sandboxed grading kernel
KERNEL_NAME = "cnn-course-grading"
#: the sandbox tool every grading kernel runs in (bubblewrap; Debian package `bubblewrap`), found on PATH
SANDBOX_TOOL = "bwrap"
#: the environment variable that carries the gradebook URL to nbgrader (never to a kernel)
DB_ENV = "NBGRADER_DB_URL"
#: the coordinator's pid, for worker processes that must die with it
PARENT_ENV = "CNN_GRADER_PID"
