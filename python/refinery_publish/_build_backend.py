"""A minimal PEP 517 build backend (standard library only) for refinery-publish.

The wheel holds the `refinery_publish` package and, as data installed under the environment's prefix,
the prebuilt JupyterLab extension (share/jupyter/labextensions/@refinery/publish/, copied into
refinery_publish/labextension/ by install.sh) and the config that enables the server extension
(etc/jupyter/jupyter_server_config.d/refinery_publish.json).
"""

import base64
import hashlib
import os
import re
import zipfile

HERE = os.path.dirname(os.path.abspath(__file__))
NAME = "refinery_publish"
DIST = "refinery-publish"


def _version():
    text = open(os.path.join(HERE, NAME, "__init__.py"), encoding="utf-8").read()
    return re.search(r'^__version__ = "([^"]+)"', text, re.M).group(1)


def _files():
    """(path in the wheel, path on disk) for everything the wheel carries."""
    version = _version()
    data = f"{NAME}-{version}.data/data"
    labext = os.path.join(HERE, NAME, "labextension")
    if not os.path.isfile(os.path.join(labext, "package.json")):
        raise RuntimeError(f"{labext} is missing: build the lab extension first (bash python/refinery_publish/install.sh)")
    out = []
    for root, dirs, files in os.walk(os.path.join(HERE, NAME)):
        dirs[:] = sorted(d for d in dirs if d != "__pycache__" and os.path.join(root, d) != labext)
        for f in sorted(files):
            if not f.endswith((".pyc", ".pyo")):
                disk = os.path.join(root, f)
                out.append((os.path.relpath(disk, HERE).replace(os.sep, "/"), disk))
    for root, dirs, files in os.walk(labext):
        dirs.sort()
        for f in sorted(files):
            disk = os.path.join(root, f)
            rel = os.path.relpath(disk, labext).replace(os.sep, "/")
            out.append((f"{data}/share/jupyter/labextensions/@refinery/publish/{rel}", disk))
    config = os.path.join(HERE, "jupyter-config", "jupyter_server_config.d", "refinery_publish.json")
    out.append((f"{data}/etc/jupyter/jupyter_server_config.d/refinery_publish.json", config))
    return out


def _metadata():
    readme = open(os.path.join(HERE, "README.md"), encoding="utf-8").read()
    return (
        "Metadata-Version: 2.1\n"
        f"Name: {DIST}\n"
        f"Version: {_version()}\n"
        "Summary: Refinery's Publish for JupyterLab (lab extension and Jupyter server extension)\n"
        "License: BSD-3-Clause\n"
        "Requires-Python: >=3.9\n"
        "Requires-Dist: jupyter_server>=2\n"
        "Description-Content-Type: text/markdown\n\n" + readme
    )


def _record_hash(data):
    return "sha256=" + base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()


def get_requires_for_build_wheel(config_settings=None):
    return []


def build_wheel(wheel_directory, config_settings=None, metadata_directory=None):
    version = _version()
    dist_info = f"{NAME}-{version}.dist-info"
    filename = f"{NAME}-{version}-py3-none-any.whl"
    records = []
    with zipfile.ZipFile(os.path.join(wheel_directory, filename), "w", zipfile.ZIP_DEFLATED) as whl:
        def add(arcname, data):
            info = zipfile.ZipInfo(arcname, date_time=(2020, 1, 1, 0, 0, 0))
            info.external_attr = 0o644 << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            whl.writestr(info, data)
            records.append(f"{arcname},{_record_hash(data)},{len(data)}")

        for arcname, disk in _files():
            with open(disk, "rb") as f:
                add(arcname, f.read())
        add(f"{dist_info}/METADATA", _metadata().encode())
        add(f"{dist_info}/WHEEL", b"Wheel-Version: 1.0\nGenerator: refinery-publish _build_backend\nRoot-Is-Purelib: true\nTag: py3-none-any\n")
        add(f"{dist_info}/top_level.txt", f"{NAME}\n".encode())
        records.append(f"{dist_info}/RECORD,,")
        info = zipfile.ZipInfo(f"{dist_info}/RECORD", date_time=(2020, 1, 1, 0, 0, 0))
        info.external_attr = 0o644 << 16
        whl.writestr(info, "\n".join(records) + "\n")
    return filename
