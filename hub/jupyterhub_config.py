# JupyterHub for the cnn-course on one server (`make hub`; scripts/hub.py writes the layout this reads).
#
#   people     local accounts, PAM logins; the class list is the roster scripts/hub.py add-class read
#   students   their own JupyterLab (jupyterhub-singleuser from .venv, the `cnn-course` kernel) in their home,
#              with nbgrader's Assignment List on the course's filesystem exchange
#   formgrader a hub service named after the course id: JupyterLab with nbgrader's formgrader, run as the
#              course's grader account in the private course folder (source/, gradebook, submissions);
#              only the `instructors` group may open it
#   exchange   <hub dir>/exchange, 0777 + sticky as nbgrader documents; submissions are private to their
#              author and the grader's group (course_exchange.py)
#
# The layout (folders, ports, accounts) comes from <hub dir>/hub.json, written by scripts/hub.py; the hub
# dir is $CNN_HUB_DIR (scripts/hub.py sets it). Nothing here is a secret: the cookie secret, the proxy
# token and the admin service's token live in <hub dir>/state (root only).
import csv
import json
import os
from pathlib import Path

c = get_config()  # noqa: F821

HUB = Path(os.environ["CNN_HUB_DIR"]).resolve()
LAYOUT = json.loads((HUB / "hub.json").read_text())
STATE = Path(LAYOUT["state"])
VENV_BIN = Path(LAYOUT["venv_bin"])
COURSE_ID = LAYOUT["course_id"]
#: environment of every server the hub starts: the course's .venv first, the course's Jupyter config
SERVER_ENV = {
    "PATH": os.pathsep.join([str(VENV_BIN), "/usr/local/bin", "/usr/bin", "/bin"]),
    "JUPYTER_CONFIG_PATH": os.pathsep.join(LAYOUT["config_path"]),
    "OMP_NUM_THREADS": "1",  # many kernels on few cores: one thread each instead of one per core each
}

# ---- where it listens (loopback only) and keeps its state
c.JupyterHub.ip = "127.0.0.1"
c.JupyterHub.port = LAYOUT["port"]
c.JupyterHub.hub_ip = "127.0.0.1"
c.JupyterHub.hub_port = LAYOUT["hub_port"]
c.ConfigurableHTTPProxy.api_url = f"http://127.0.0.1:{LAYOUT['proxy_api_port']}"
c.ConfigurableHTTPProxy.command = [LAYOUT["proxy"]]
c.ConfigurableHTTPProxy.auth_token = (STATE / "proxy_token").read_text().strip()
c.JupyterHub.db_url = f"sqlite:///{STATE / 'jupyterhub.sqlite'}"
c.JupyterHub.cookie_secret_file = str(STATE / "jupyterhub_cookie_secret")
c.JupyterHub.pid_file = str(STATE / "jupyterhub.pid")
c.JupyterHub.cleanup_servers = True  # a stopped hub stops the class's servers too

# ---- who may log in: the roster (PAM checks the passwords of the local accounts)
with open(LAYOUT["roster"], newline="") as f:
    ROSTER = list(csv.DictReader(f))
INSTRUCTORS = sorted(r["username"] for r in ROSTER if r["role"] == "instructor")
STUDENTS = sorted(r["username"] for r in ROSTER if r["role"] == "student")
c.JupyterHub.authenticator_class = "pam"
c.Authenticator.allowed_users = set(INSTRUCTORS + STUDENTS)
c.Authenticator.admin_users = set()  # nobody may open another person's server, instructors included
c.JupyterHub.load_groups = {"instructors": {"users": INSTRUCTORS}, "students": {"users": STUDENTS}}

# ---- each person's own JupyterLab, as their own account, in their home
c.Spawner.cmd = [str(VENV_BIN / "jupyterhub-singleuser")]
c.Spawner.args = LAYOUT["lab_args"]  # offline: no news feed, no update check (scripts/lab.py)
c.Spawner.default_url = "/lab"
c.Spawner.environment = dict(SERVER_ENV)
c.Spawner.start_timeout = 180  # a busy 2-core machine starts a Lab in 5-30 s
c.Spawner.http_timeout = 180

# ---- the formgrader: a service the instructors open at /services/<course id>/
c.JupyterHub.services = [
    {
        "name": COURSE_ID,
        "url": f"http://127.0.0.1:{LAYOUT['service_port']}",
        "command": [str(VENV_BIN / "jupyterhub-singleuser"), *LAYOUT["lab_args"]],
        "user": LAYOUT["grader"],
        "cwd": LAYOUT["course"],
        "environment": {**SERVER_ENV, "HOME": LAYOUT["grader_home"], "JUPYTERHUB_DEFAULT_URL": "/lab"},
        "oauth_no_confirm": True,
    },
    # root's tooling (scripts/hub.py, scripts/bench_hub.py) manages users and servers through the API
    {"name": "course-admin", "api_token": (STATE / "admin_token").read_text().strip()},
]
c.JupyterHub.load_roles = [
    {"name": "formgrader", "groups": ["instructors"],
     "scopes": [f"access:services!service={COURSE_ID}", "list:services", f"read:services!service={COURSE_ID}"]},
    {"name": "course-admin", "services": ["course-admin"],
     "scopes": ["admin:users", "admin:servers", "tokens", "list:users", "read:users", "access:servers",
                "list:services", "read:services"]},
]
