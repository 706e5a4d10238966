# Jupyter server settings of every server the course's hub starts: the students' and instructors' own
# servers and the formgrader service (scripts/hub.py puts this folder on their JUPYTER_CONFIG_PATH).
c = get_config()  # noqa: F821

# The formgrader opens inside JupyterLab, in an iframe of the same server. Since JupyterHub 4.1 a
# single-user server sends `frame-ancestors 'none'` unless the server's settings name a policy, and the
# browser then shows an empty frame (nbgrader issues 1870, 1910, 1919). 'self' allows exactly that frame:
# pages of the same origin, nothing else.
c.ServerApp.tornado_settings = {"headers": {"Content-Security-Policy": "frame-ancestors 'self'"}}
