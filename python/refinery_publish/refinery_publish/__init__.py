"""Refinery's Publish: a Jupyter server extension (and the prebuilt JupyterLab extension beside it)."""

__version__ = "0.1.0"


def _jupyter_labextension_paths():
    return [{"src": "labextension", "dest": "@refinery/publish"}]


def _jupyter_server_extension_points():
    return [{"module": "refinery_publish"}]


def _load_jupyter_server_extension(server_app):
    from .handlers import setup_handlers

    setup_handlers(server_app)
    server_app.log.info("refinery_publish: publishing through %s", "the hub API" if _hub_configured() else "nothing (not running under a hub)")


def _hub_configured():
    import os

    return bool(os.environ.get("JUPYTERHUB_API_URL") and os.environ.get("JUPYTERHUB_API_TOKEN") and os.environ.get("JUPYTERHUB_USER"))
