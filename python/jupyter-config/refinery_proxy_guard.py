"""A Jupyter server extension: jupyter-server-proxy proxies only to this account's own services.

jupyter-server-proxy's ``/proxy/<port>/`` (and ``/proxy/absolute/<port>/``, and
``/proxy/localhost:<port>/``) forwards to any port on this machine. When Refinery runs each person
as a system account of their own, a port on loopback may belong to someone else: another
person's Dask dashboard or Spark UI, or the hub itself. ``ServerProxy.host_allowlist`` cannot help:
it only filters host names, and ``/proxy/<port>/`` never consults it.

So every proxied request and WebSocket is checked where jupyter-server-proxy opens its connection
(``ProxyHandler.proxy`` and ``ProxyHandler.proxy_open``, which every handler goes through with the
target host and port): for a loopback host, the port must be listened on, and only by sockets of
this process's own uid (``/proc/net/tcp`` and ``tcp6`` list each listening socket's owner). Ports
of the person's own clusters and of programs they start themselves pass; anyone else's get 403.
The check is made here and not by handler order because extensions load in alphabetical order and
tornado takes the first matching handler.

On a machine where every server runs as one account (Refinery not running as root), every port
belongs to that account and everything passes, as before.
"""
import ipaddress
import os

from tornado import web

_GUARDED = "_refinery_proxy_guard"
_LISTEN = "0A"
_LOOPBACK_NAMES = {"localhost", "localhost.localdomain", "ip6-localhost"}


def _is_loopback(host):
    host = (host or "").strip("[]").lower()
    if host in _LOOPBACK_NAMES:
        return True
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return False
    return address.is_loopback or address.is_unspecified


def _listener_uids(port):
    """The uids owning sockets that listen on ``port`` (any address); None when /proc has no such tables."""
    uids = set()
    found_table = False
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            with open(table, encoding="ascii") as f:
                lines = f.read().splitlines()[1:]
        except OSError:
            continue
        found_table = True
        for line in lines:
            fields = line.split()
            if len(fields) < 8 or fields[3] != _LISTEN:
                continue
            try:
                if int(fields[1].rsplit(":", 1)[1], 16) == port:
                    uids.add(int(fields[7]))
            except ValueError:
                continue
    return uids if found_table else None


def port_is_own(port):
    """Is every socket listening on ``port`` this process's own (and is there one)?"""
    uids = _listener_uids(int(port))
    if uids is None:
        return True
    return bool(uids) and uids == {os.getuid()}


def _refusal(port):
    return f"Port {port} is not a service of this server's own account"


def _guard(proxy_handler_class):
    if getattr(proxy_handler_class, _GUARDED, False):
        return
    original_proxy = proxy_handler_class.proxy
    original_proxy_open = proxy_handler_class.proxy_open

    async def proxy(self, host, port, proxied_path):
        if self.unix_socket is None and _is_loopback(host) and not port_is_own(port):
            raise web.HTTPError(403, _refusal(port))
        return await original_proxy(self, host, port, proxied_path)

    async def proxy_open(self, host, port, proxied_path=""):
        if self.unix_socket is None and _is_loopback(host) and not port_is_own(port):
            self.log.info(_refusal(port))
            self.close(code=1008, reason=_refusal(port))
            return
        return await original_proxy_open(self, host, port, proxied_path)

    proxy_handler_class.proxy = proxy
    proxy_handler_class.proxy_open = proxy_open
    setattr(proxy_handler_class, _GUARDED, True)


def _jupyter_server_extension_points():
    return [{"module": "refinery_proxy_guard"}]


def _load_jupyter_server_extension(serverapp):
    try:
        from jupyter_server_proxy.handlers import ProxyHandler
    except ImportError:
        serverapp.log.info("refinery_proxy_guard: jupyter-server-proxy is not installed; nothing to guard")
        return
    _guard(ProxyHandler)
    serverapp.log.info("refinery_proxy_guard: /proxy/ reaches only services of uid %d", os.getuid())
