# nbgrader settings of the course's hub for students and the formgrader service (scripts/hub.py puts this
# folder on their JUPYTER_CONFIG_PATH, next to the generated course id and exchange root of scripts/lab.py).
import sys
from pathlib import Path

c = get_config()  # noqa: F821

if str(Path(__file__).resolve().parent) not in sys.path:
    sys.path.append(str(Path(__file__).resolve().parent))

# Submissions readable by the instructors' group only, not by every account that learns their path
# (nbgrader issue 978): see course_exchange.py.
c.ExchangeFactory.submit = "course_exchange.PrivateSubmit"
