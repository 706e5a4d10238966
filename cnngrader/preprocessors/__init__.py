"""The course's nbgrader plugins, one per file (configured in nbgrader_config.py)."""
from cnngrader.preprocessors.guarded_execute import GuardedExecute, MachineTooBusy  # noqa: F401
from cnngrader.preprocessors.hide_hidden_tests import HideHiddenTests  # noqa: F401
from cnngrader.preprocessors.rebuild_and_scan import RebuildAndScan  # noqa: F401
