"""A stand-in for jupyterhub-singleuser where a test needs a server to start quickly, not Jupyter.

Answers every GET with 200 and a small JSON body on the port the hub chose
(JUPYTERHUB_SERVICE_URL). FAKE_START_DELAY (seconds) delays listening, to widen start-up windows.
"""
import http.server
import json
import os
import time
from urllib.parse import urlsplit

delay = float(os.environ.get("FAKE_START_DELAY", "0"))
if delay:
    time.sleep(delay)


class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        body = json.dumps({"user": os.environ.get("JUPYTERHUB_USER"), "path": self.path}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


url = urlsplit(os.environ["JUPYTERHUB_SERVICE_URL"])
http.server.ThreadingHTTPServer((url.hostname, url.port), Handler).serve_forever()
