# Read by every single-user server Refinery starts: the spawner puts this directory first on
# JUPYTER_CONFIG_PATH. It turns on refinery_proxy_guard (next to this file), which lets
# jupyter-server-proxy reach only services that run as the server's own account.
import os
import sys

_here = os.path.dirname(os.path.abspath(__file__))
if _here not in sys.path:
    sys.path.append(_here)

c.ServerApp.jpserver_extensions.update({"refinery_proxy_guard": True})  # noqa: F821 (c is traitlets' config object)
