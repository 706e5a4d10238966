"""The cnn-course grader: nbgrader plugins and the class-grading app, laid out like nbgrader itself.

    apps/           command-line applications (``python -m cnngrader`` = apps/autograde.py, `make autograde`)
    run/            what the app does, step by step: staging, gradebook, workers, grading, fingerprint, report
    preprocessors/  nbgrader plugins, one per file (configured in nbgrader_config.py)
    scan/           the static scan and rebuild of a submission on the released notebook
    sandbox/        the grading kernel's sandbox: launcher, in-kernel guard, processes, uids, cgroups
    cell_clock.py   a kernel's own time (wall time minus its waits for a CPU)
    constants.py    every grading constant
"""
