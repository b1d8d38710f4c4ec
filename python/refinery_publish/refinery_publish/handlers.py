"""The server side of the Publish button.

The browser talks only to its own Jupyter server (Jupyter's authentication and XSRF checks apply, as
for every other Jupyter API). This extension reads the notebook through the contents manager, exactly
as saved, and calls the hub's publications API with the server's own ``JUPYTERHUB_API_TOKEN``, which
the hub accepts for publishing in this user's name (scope ``users:activity!user=<name>``). The hub
token never reaches the browser.
"""

from __future__ import annotations

import base64
import json
import os
import uuid
from urllib.parse import quote, urlsplit

from jupyter_server.auth.decorator import authorized
from jupyter_server.base.handlers import APIHandler
from jupyter_server.utils import ensure_async, url_path_join
from tornado import web
from tornado.httpclient import AsyncHTTPClient, HTTPClientError, HTTPRequest

# The hub answers 413 above its own limit (publish.max_size); this only stops absurd files early.
MAX_UPLOAD = 512 * 1024 * 1024
VISIBILITIES = ("public", "users")


class HubError(Exception):
    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status
        self.message = message


class Hub:
    """The hub's publications API for this server's user."""

    def __init__(self) -> None:
        self.api_url = os.environ.get("JUPYTERHUB_API_URL", "").rstrip("/")
        self.token = os.environ.get("JUPYTERHUB_API_TOKEN", "")
        self.user = os.environ.get("JUPYTERHUB_USER", "")

    @property
    def configured(self) -> bool:
        return bool(self.api_url and self.token and self.user)

    @property
    def origin(self) -> str:
        parts = urlsplit(self.api_url)
        return f"{parts.scheme}://{parts.netloc}" if parts.netloc else ""

    def _url(self, *parts: str) -> str:
        return "/".join([self.api_url, "users", quote(self.user, safe=""), *[quote(p, safe="") for p in parts]])

    async def call(self, method: str, url: str, body: bytes | None = None, content_type: str | None = None):
        if not self.configured:
            raise HubError(503, "This server does not run under Refinery's hub: there is nowhere to publish to.")
        headers = {"Authorization": f"token {self.token}", "Accept": "application/json"}
        if content_type:
            headers["Content-Type"] = content_type
        request = HTTPRequest(url, method=method, headers=headers, body=body, request_timeout=300,
                              allow_nonstandard_methods=True)
        try:
            response = await AsyncHTTPClient().fetch(request)
        except HTTPClientError as error:
            message = f"The hub answered {error.code}"
            if error.response is not None and error.response.body:
                try:
                    message = json.loads(error.response.body).get("message") or message
                except ValueError:
                    pass
            raise HubError(error.code, message) from None
        except OSError as error:
            raise HubError(502, f"Could not reach the hub at {self.api_url}: {error}") from None
        return json.loads(response.body) if response.body else None

    async def user_model(self):
        return await self.call("GET", f"{self.api_url}/user")

    async def publications(self):
        return await self.call("GET", self._url("publications"))

    async def publish(self, notebook: bytes, fields: dict, update: str | None):
        boundary = uuid.uuid4().hex
        parts = []
        for name, value in fields.items():
            parts.append(f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n'.encode() + value.encode("utf-8") + b"\r\n")
        parts.append(
            f'--{boundary}\r\nContent-Disposition: form-data; name="notebook"; filename="notebook.ipynb"\r\n'
            "Content-Type: application/x-ipynb+json\r\n\r\n".encode() + notebook + b"\r\n"
        )
        parts.append(f"--{boundary}--\r\n".encode())
        body = b"".join(parts)
        content_type = f"multipart/form-data; boundary={boundary}"
        if update:
            return await self.call("PUT", self._url("publications", update), body, content_type)
        return await self.call("POST", self._url("publications"), body, content_type)

    async def unpublish(self, publication_id: str):
        return await self.call("DELETE", self._url("publications", publication_id))


class BaseHandler(APIHandler):
    auth_resource = "contents"

    @property
    def hub(self) -> Hub:
        return self.settings["refinery_publish_hub"]

    def answer(self, status: int, payload) -> None:
        self.set_status(status)
        self.set_header("Content-Type", "application/json")
        self.finish(json.dumps(payload))

    def hub_error(self, error: HubError) -> None:
        self.log.warning("refinery_publish: hub said %s: %s", error.status, error.message)
        self.answer(error.status, {"message": error.message})


class InfoHandler(BaseHandler):
    @web.authenticated
    @authorized
    async def get(self):
        info = {"configured": self.hub.configured, "user": self.hub.user, "groups": [], "hub_origin": self.hub.origin}
        if self.hub.configured:
            try:
                model = await self.hub.user_model()
                info["groups"] = sorted((model or {}).get("groups") or [])
            except HubError as error:
                return self.hub_error(error)
        self.answer(200, info)


class PublicationsHandler(BaseHandler):
    @web.authenticated
    @authorized
    async def get(self):
        try:
            self.answer(200, await self.hub.publications())
        except HubError as error:
            self.hub_error(error)


class PublicationHandler(BaseHandler):
    @web.authenticated
    @authorized
    async def delete(self, publication_id: str):
        try:
            await self.hub.unpublish(publication_id)
            self.set_status(204)
            self.finish()
        except HubError as error:
            self.hub_error(error)


class PublishHandler(BaseHandler):
    @web.authenticated
    @authorized
    async def post(self):
        try:
            body = json.loads(self.request.body or b"{}")
        except ValueError:
            return self.answer(400, {"message": "Expected a JSON body"})
        if not isinstance(body, dict):
            return self.answer(400, {"message": "Expected a JSON object"})
        path = body.get("path")
        title = body.get("title")
        visibility = body.get("visibility") or "public"
        update = body.get("update") or None
        if not isinstance(path, str) or not path.endswith(".ipynb"):
            return self.answer(400, {"message": "path: the path of a notebook (.ipynb) in this server"})
        if not isinstance(title, str) or not title.strip():
            return self.answer(400, {"message": "title: give the publication a title"})
        if not isinstance(visibility, str) or not (visibility in VISIBILITIES or visibility.startswith("group:")):
            return self.answer(400, {"message": 'visibility: "public", "users" or "group:<name>"'})
        if update is not None and not isinstance(update, str):
            return self.answer(400, {"message": "update: the id of the publication to update"})
        cm = self.contents_manager
        try:
            # the file exactly as saved, not the parsed notebook: the page offers these very bytes
            model = await ensure_async(cm.get(path, content=True, type="file", format="base64"))
        except web.HTTPError as error:
            return self.answer(error.status_code, {"message": f"Cannot read {path}: {error.log_message or error.reason}"})
        notebook = base64.b64decode(model["content"])
        if len(notebook) > MAX_UPLOAD:
            return self.answer(413, {"message": f"{path} is too large to publish"})
        fields = {"title": title.strip(), "visibility": visibility, "path": path}
        try:
            publication = await self.hub.publish(notebook, fields, update)
        except HubError as error:
            return self.hub_error(error)
        self.log.info("refinery_publish: published %s as %s", path, (publication or {}).get("url"))
        self.answer(200 if update else 201, publication)


def setup_handlers(server_app) -> None:
    web_app = server_app.web_app
    web_app.settings["refinery_publish_hub"] = Hub()
    base = url_path_join(web_app.settings["base_url"], "refinery-publish")
    web_app.add_handlers(
        ".*$",
        [
            (url_path_join(base, "info"), InfoHandler),
            (url_path_join(base, "publications"), PublicationsHandler),
            (url_path_join(base, "publications", r"([A-Za-z0-9_-]+)"), PublicationHandler),
            (url_path_join(base, "publish"), PublishHandler),
        ],
    )
