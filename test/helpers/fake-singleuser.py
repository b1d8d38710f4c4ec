"""A stand-in for jupyterhub-singleuser where a test needs a server to start quickly, not Jupyter.

On the port the hub chose (JUPYTERHUB_SERVICE_URL):
- GET .../stream?seconds=N: a response without a length, one line a second for N seconds;
- a WebSocket handshake: 101, then every byte received is sent back (no framing: a tunnel test);
- any other GET: 200 with a small JSON body.
FAKE_START_DELAY (seconds) delays listening, to widen start-up windows.
"""
import base64
import hashlib
import http.server
import json
import os
import time
from urllib.parse import parse_qs, urlsplit

delay = float(os.environ.get("FAKE_START_DELAY", "0"))
if delay:
    time.sleep(delay)

WS_GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"


class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        url = urlsplit(self.path)
        if self.headers.get("Upgrade", "").lower() == "websocket":
            return self.echo_tunnel()
        if url.path.endswith("/stream"):
            return self.stream(float(parse_qs(url.query).get("seconds", ["3"])[0]))
        body = json.dumps({"user": os.environ.get("JUPYTERHUB_USER"), "path": self.path}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def stream(self, seconds):
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.end_headers()
        ticks = int(seconds)
        for i in range(ticks):
            self.wfile.write(f"tick {i + 1}/{ticks}\n".encode())
            self.wfile.flush()
            time.sleep(1)
        self.wfile.write(b"done\n")
        self.close_connection = True

    def echo_tunnel(self):
        key = self.headers.get("Sec-WebSocket-Key", "")
        accept = base64.b64encode(hashlib.sha1((key + WS_GUID).encode()).digest()).decode()
        self.wfile.write(
            f"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: {accept}\r\n\r\n".encode()
        )
        self.wfile.flush()
        while True:
            data = self.connection.recv(65536)
            if not data:
                break
            self.connection.sendall(data)
        self.close_connection = True

    def log_message(self, *args):
        pass


url = urlsplit(os.environ["JUPYTERHUB_SERVICE_URL"])
http.server.ThreadingHTTPServer((url.hostname, url.port), Handler).serve_forever()
