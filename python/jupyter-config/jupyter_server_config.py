# Read by every single-user server Refinery starts: the spawner puts this directory first on
# JUPYTER_CONFIG_PATH.
import os
import sys

# refinery_proxy_guard (next to this file): jupyter-server-proxy reaches only services that run as
# the server's own account.
_here = os.path.dirname(os.path.abspath(__file__))
if _here not in sys.path:
    sys.path.append(_here)
c.ServerApp.jpserver_extensions.update({"refinery_proxy_guard": True})  # noqa: F821 (c is traitlets' config object)

# Kernels listen on loopback TCP ports that every account on the machine can connect to; message
# signatures keep others from running code, but iopub would show them every output. CurveZMQ
# (jupyter_client's transport encryption, for kernels whose kernelspec declares it, as ipykernel's
# does) encrypts the channels and admits only clients holding the key from the connection file,
# which lives in the person's private runtime directory.
c.KernelManager.transport_encryption = "auto"  # noqa: F821
