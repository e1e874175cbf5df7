"""Hostile functions against the network around them, and system calls outside the seccomp list.

slirp4netns opens an environment's connections from the host's own network stack, so without a
filter a function reaches the cloud metadata service (169.254.169.254), every private network the
host is on and the host's own addresses. These tests build a small network of their own (a
namespace behind a veth pair holding a private address and a public-looking documentation
address, listeners in it, and a listener on the host's own addresses), then have a function try
each destination against the real server: the private, link-local and host destinations must be
refused at once, the public-looking one reached, the resolver at 10.0.2.3:53 not refused, and an
operator's `sandbox.allow_outbound` entry must open exactly what it names.

The seccomp part calls io_uring_setup, socket(AF_VSOCK) and an x32 system call through ctypes.
"""

import json
import os
import random
import socket
import subprocess
import sys
import threading
import uuid

import pytest

from testutil import (
    DEFAULT_CONFIG,
    ROLE,
    KumoServer,
    descendant_pids,
    lambda_client,
    make_zip,
    read_payload,
    unique_name,
    wait_until,
)

NS_PORT = 8080
NS_OTHER_PORT = 8081

PROBE_PY = r'''
import ctypes, errno, socket, time

libc = ctypes.CDLL(None, use_errno=True)

def connect(host, port):
    s = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET)
    s.settimeout(5)
    start = time.monotonic()
    try:
        s.connect((host, port))
        banner = s.recv(64).decode()
        return {"result": "reached", "banner": banner, "secs": time.monotonic() - start}
    except OSError as e:
        name = "timeout" if isinstance(e, socket.timeout) else errno.errorcode.get(e.errno, str(e))
        return {"result": name, "secs": time.monotonic() - start}
    finally:
        s.close()

def udp(host, port):
    """Sends a DNS query for a name under .invalid; a refusal shows as an error on the socket."""
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.settimeout(3)
    query = b"\x12\x34\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00" + b"\x08kumo-e2e\x07invalid\x00" + b"\x00\x01\x00\x01"
    start = time.monotonic()
    try:
        s.connect((host, port))
        s.send(query)
        s.recv(512)
        return {"result": "answered", "secs": time.monotonic() - start}
    except socket.timeout:
        return {"result": "no answer", "secs": time.monotonic() - start}
    except OSError as e:
        return {"result": errno.errorcode.get(e.errno, str(e)), "secs": time.monotonic() - start}
    finally:
        s.close()

def syscall(nr, *args):
    ctypes.set_errno(0)
    rc = libc.syscall(nr, *args)
    return "ok" if rc >= 0 else errno.errorcode.get(ctypes.get_errno(), "?")

def handler(event, context):
    if event["action"] == "connect":
        return {f"{h}:{p}": connect(h, p) for h, p in event["targets"]}
    if event["action"] == "udp":
        return {f"{h}:{p}": udp(h, p) for h, p in event["targets"]}
    if event["action"] == "syscalls":
        params = ctypes.create_string_buffer(120)
        pair = (ctypes.c_int * 2)()
        out = {
            "io_uring_setup": syscall(425, 4, params),
            "socket_vsock": syscall(41, socket.AF_VSOCK, socket.SOCK_STREAM, 0),
            "socketpair_vsock": syscall(53, socket.AF_VSOCK, socket.SOCK_STREAM, 0, pair),
            "x32_getpid": syscall(0x40000000 + 39),
            "getpid": syscall(39),
            "socketpair_unix": syscall(53, socket.AF_UNIX, socket.SOCK_STREAM, 0, pair),
        }
        for family in ("AF_INET", "AF_INET6", "AF_UNIX"):
            try:
                socket.socket(getattr(socket, family), socket.SOCK_STREAM).close()
                out[family] = "ok"
            except OSError as e:
                out[family] = errno.errorcode.get(e.errno, str(e))
        return out
    raise ValueError(event["action"])
'''

# Listeners inside the test's namespace: each accepts and sends its banner.
LISTENERS_PY = r'''
import socket, sys, threading
def serve(addr, port, banner):
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind((addr, port))
    s.listen(16)
    while True:
        c, _ = s.accept()
        c.sendall(banner.encode())
        c.close()
for spec in sys.argv[1:]:
    addr, port, banner = spec.split(",")
    threading.Thread(target=serve, args=(addr, int(port), banner), daemon=True).start()
threading.Event().wait()
'''


def sh(*args):
    subprocess.run(args, check=True, capture_output=True, timeout=30)


def reachable(addr, port, banner):
    try:
        with socket.create_connection((addr, port), timeout=1) as s:
            return s.recv(64).decode() == banner
    except OSError:
        return False


def host_global_ipv4():
    """The host's own IPv4 addresses of global scope (from `ip -j addr`)."""
    out = subprocess.run(["ip", "-j", "addr"], check=True, capture_output=True, text=True).stdout
    return [
        a["local"]
        for link in json.loads(out)
        for a in link.get("addr_info", [])
        if a.get("family") == "inet" and a.get("scope") == "global"
    ]


class HostListener:
    """A listener on one of the host's own addresses that sends a banner to each connection."""

    def __init__(self, addr):
        self.sock = socket.socket()
        self.sock.bind((addr, 0))
        self.sock.listen(16)
        self.addr, self.port = addr, self.sock.getsockname()[1]
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self):
        while True:
            try:
                c, _ = self.sock.accept()
            except OSError:
                return
            c.sendall(b"host")
            c.close()

    def close(self):
        self.sock.close()


@pytest.fixture(scope="module")
def testnet(request):
    """A namespace behind a veth pair, with listeners on a private and a public-looking address,
    and listeners on the host's own addresses. Everything is removed in the finalizer."""
    tag = uuid.uuid4().hex[:6]
    ns = f"kumo-e2e-{tag}"
    host_if, ns_if = f"kn{tag}h", f"kn{tag}n"
    n = random.randrange(1, 250)
    k = random.randrange(1, 60)
    net = {
        "ns": ns,
        "host_if": host_if,
        "private": f"10.213.{n}.2",
        "private_host": f"10.213.{n}.1",
        "public": f"203.0.113.{4 * k + 2}",
        "public_host": f"203.0.113.{4 * k + 1}",
        # Host addresses outside every refused range: refused only for being the host's. The
        # second is added only later, by the test of prepared namespaces.
        "own_extra": f"198.51.100.{random.randrange(1, 125)}",
        "own_later": f"198.51.100.{random.randrange(125, 250)}",
    }
    procs, listeners = [], []

    def cleanup():
        for p in procs:
            p.kill()
            p.wait()
        for l in listeners:
            l.close()
        subprocess.run(["ip", "link", "del", host_if], capture_output=True)
        subprocess.run(["ip", "netns", "del", ns], capture_output=True)

    request.addfinalizer(cleanup)
    sh("ip", "netns", "add", ns)
    sh("ip", "link", "add", host_if, "type", "veth", "peer", "name", ns_if)
    sh("ip", "link", "set", ns_if, "netns", ns)
    sh("ip", "addr", "add", f"{net['private_host']}/24", "dev", host_if)
    sh("ip", "addr", "add", f"{net['public_host']}/30", "dev", host_if)
    sh("ip", "addr", "add", f"{net['own_extra']}/32", "dev", host_if)
    sh("ip", "link", "set", host_if, "up")
    sh("ip", "-n", ns, "addr", "add", f"{net['private']}/24", "dev", ns_if)
    sh("ip", "-n", ns, "addr", "add", f"{net['public']}/30", "dev", ns_if)
    sh("ip", "-n", ns, "link", "set", ns_if, "up")
    sh("ip", "-n", ns, "link", "set", "lo", "up")
    specs = [
        f"{net['private']},{NS_PORT},private",
        f"{net['private']},{NS_OTHER_PORT},private-other",
        f"{net['public']},{NS_PORT},public",
    ]
    procs.append(subprocess.Popen(["ip", "netns", "exec", ns, sys.executable, "-c", LISTENERS_PY, *specs]))
    for addr, port, banner in [s.split(",") for s in specs]:
        wait_until(lambda: reachable(addr, int(port), banner), 15, what=f"listener {addr}:{port}")
    own = [a for a in host_global_ipv4() if a not in (net["private_host"], net["public_host"])]
    assert net["own_extra"] in own, own
    net["own"] = {}
    for addr in own:
        listener = HostListener(addr)
        listeners.append(listener)
        net["own"][addr] = listener.port
    return net


def start_server(tmp_path_factory, config_text):
    base = tmp_path_factory.mktemp("kumo-net")
    return KumoServer(base / "data", config_text=config_text, log_dir=base).start()


def create_probe(lam):
    name = unique_name("netprobe")
    lam.create_function(
        FunctionName=name, Runtime="python3.11", Role=ROLE, Handler="app.handler",
        Code={"ZipFile": make_zip({"app.py": PROBE_PY})}, Timeout=30, MemorySize=128,
    )
    lam.get_waiter("function_active_v2").wait(FunctionName=name, WaiterConfig={"Delay": 1, "MaxAttempts": 30})
    return name


def invoke(lam, name, event):
    resp = lam.invoke(FunctionName=name, Payload=json.dumps(event))
    body = json.loads(read_payload(resp))
    assert resp.get("FunctionError") is None, body
    return body


@pytest.fixture(scope="module")
def filtered(testnet, tmp_path_factory):
    srv = start_server(tmp_path_factory, DEFAULT_CONFIG)
    lam = lambda_client(srv.url)
    yield lam, create_probe(lam)
    srv.stop()


@pytest.fixture(scope="module")
def allowing(testnet, tmp_path_factory):
    config = DEFAULT_CONFIG + f'\n[sandbox]\nallow_outbound = ["{testnet["private"]}/32:{NS_PORT}"]\n'
    srv = start_server(tmp_path_factory, config)
    lam = lambda_client(srv.url)
    yield lam, create_probe(lam)
    srv.stop()


def assert_refused_fast(result, what):
    assert result["result"] == "ECONNREFUSED", (what, result)
    assert result["secs"] < 2, (what, result)


def test_private_link_local_and_host_addresses_are_refused_fast_public_reached(testnet, filtered):
    lam, name = filtered
    targets = [
        [testnet["private"], NS_PORT],
        [testnet["private"], NS_OTHER_PORT],
        ["169.254.169.254", 80],
        [testnet["public"], NS_PORT],
        *[[addr, port] for addr, port in testnet["own"].items()],
    ]
    body = invoke(lam, name, {"action": "connect", "targets": targets})
    assert body[f"{testnet['public']}:{NS_PORT}"]["result"] == "reached", body
    assert body[f"{testnet['public']}:{NS_PORT}"]["banner"] == "public", body
    assert_refused_fast(body[f"{testnet['private']}:{NS_PORT}"], "private")
    assert_refused_fast(body[f"{testnet['private']}:{NS_OTHER_PORT}"], "private")
    assert_refused_fast(body["169.254.169.254:80"], "metadata")
    for addr, port in testnet["own"].items():
        assert_refused_fast(body[f"{addr}:{port}"], f"host address {addr}")


def test_dns_forwarder_is_not_refused(filtered):
    lam, name = filtered
    body = invoke(lam, name, {"action": "udp", "targets": [["10.0.2.3", 53], ["10.0.2.3", 5353]]})
    # Port 53 reaches slirp4netns's forwarder (an answer, or silence if the host's resolver
    # does not answer); any other port of that private address is refused on the spot.
    assert body["10.0.2.3:53"]["result"] in ("answered", "no answer"), body
    assert body["10.0.2.3:5353"]["result"] in ("EHOSTUNREACH", "ECONNREFUSED", "EPERM"), body
    assert body["10.0.2.3:5353"]["secs"] < 2, body


def test_allow_list_opens_exactly_the_listed_destination(testnet, allowing):
    lam, name = allowing
    targets = [[testnet["private"], NS_PORT], [testnet["private"], NS_OTHER_PORT], ["169.254.169.254", 80]]
    body = invoke(lam, name, {"action": "connect", "targets": targets})
    allowed = body[f"{testnet['private']}:{NS_PORT}"]
    assert allowed["result"] == "reached" and allowed["banner"] == "private", body
    assert_refused_fast(body[f"{testnet['private']}:{NS_OTHER_PORT}"], "other port")
    assert_refused_fast(body["169.254.169.254:80"], "metadata")


def test_io_uring_vsock_and_x32_calls_are_refused_normal_sockets_work(filtered):
    lam, name = filtered
    body = invoke(lam, name, {"action": "syscalls"})
    assert body == {
        "io_uring_setup": "EPERM",
        "socket_vsock": "EAFNOSUPPORT",
        "socketpair_vsock": "EAFNOSUPPORT",
        "x32_getpid": "EPERM",
        "getpid": "ok",
        "socketpair_unix": "ok",
        "AF_INET": "ok",
        "AF_INET6": "ok",
        "AF_UNIX": "ok",
    }, body


def test_bad_allow_outbound_entry_stops_the_server_with_a_clear_message(tmp_path_factory):
    config = DEFAULT_CONFIG + '\n[sandbox]\nallow_outbound = ["10.213.0.5/24:80"]\n'
    base = tmp_path_factory.mktemp("kumo-net-bad")
    srv = KumoServer(base / "data", config_text=config, log_dir=base)
    with pytest.raises(AssertionError) as err:
        srv.start()
    assert "allow_outbound" in str(err.value) and "host bits" in str(err.value), str(err.value)


def slirp_count(pid):
    def comm(p):
        try:
            with open(f"/proc/{p}/comm") as f:
                return f.read().strip()
        except OSError:
            return ""
    return sum(1 for p in descendant_pids(pid) if comm(p) == "slirp4netns")


def test_namespaces_prepared_before_a_host_address_appeared_are_not_used(testnet, tmp_path_factory):
    srv = start_server(tmp_path_factory, DEFAULT_CONFIG)
    try:
        lam = lambda_client(srv.url)
        first = create_probe(lam)
        invoke(lam, first, {"action": "connect", "targets": []})
        # The running environment's network and the 4 prepared behind it (prepared_networks).
        wait_until(lambda: slirp_count(srv.pid) >= 5, 60, what="the prepared networks")
        addr = testnet["own_later"]
        sh("ip", "addr", "add", f"{addr}/32", "dev", testnet["host_if"])
        listener = HostListener(addr)
        try:
            second = create_probe(lam)
            body = invoke(lam, second, {"action": "connect", "targets": [[addr, listener.port]]})
            assert_refused_fast(body[f"{addr}:{listener.port}"], f"new host address {addr}")
        finally:
            listener.close()
            subprocess.run(["ip", "addr", "del", f"{addr}/32", "dev", testnet["host_if"]], capture_output=True)
    finally:
        srv.stop()
