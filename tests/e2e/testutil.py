"""Helpers shared by the end-to-end tests.

Everything here drives the real `kumo` binary and real clients (boto3, the aws CLI,
the `kumo` CLI). Nothing talks to Kumo's internals.
"""

import atexit
import base64
import hashlib
import io
import json
import os
import queue
import re
import signal
import subprocess
import threading
import time
import urllib.request
import uuid
import zipfile

import boto3
from botocore.config import Config

REPO_ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
REGION = "us-east-1"
ACCOUNT = "123456789012"
ROLE = "arn:aws:iam::123456789012:role/kumo-e2e"
READY_RE = re.compile(r"^kumo listening on (http://([0-9.]+|\[[0-9a-f:]+\]|[a-z0-9.-]+):(\d+))$")
LAST_MODIFIED_RE = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}\+0000$")
SIX_MB = 6 * 1024 * 1024
# The access key every client in the suite signs with, and every server accepts.
TEST_KEY = "test"
TEST_SECRET = "test"

DEFAULT_CONFIG = """\
[server]
region = "us-east-1"
account_id = "123456789012"

[limits]
account_concurrency = 1000
idle_timeout_secs = 300
"""


def kumo_bin():
    return os.environ.get("KUMO_BIN") or os.path.join(REPO_ROOT, "target", "debug", "kumo")


def unique_name(prefix):
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def function_arn(name, region=REGION, account=ACCOUNT):
    return f"arn:aws:lambda:{region}:{account}:function:{name}"


# --------------------------------------------------------------------------- zips


def make_zip(files):
    """Zip a {path: str|bytes} mapping in memory and return the bytes."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for path, content in sorted(files.items()):
            info = zipfile.ZipInfo(path, date_time=(2024, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            if isinstance(content, str):
                content = content.encode()
            zf.writestr(info, content)
    return buf.getvalue()


def code_sha256(data):
    return base64.b64encode(hashlib.sha256(data).digest()).decode()


_BOMB = None


def zip_bomb():
    """A ~260 KB zip whose two entries unzip to 2 x 130 MiB = 260 MiB (> 250 MiB limit)."""
    global _BOMB
    if _BOMB is None:
        buf = io.BytesIO()
        chunk = bytes(1 << 20)
        with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
            zf.writestr("app.py", "def handler(e, c):\n    return 1\n")
            for name in ("zeros-a.bin", "zeros-b.bin"):
                with zf.open(name, "w") as f:
                    for _ in range(130):
                        f.write(chunk)
        _BOMB = buf.getvalue()
    return _BOMB


# --------------------------------------------------------------------------- waiting


def wait_until(predicate, timeout, interval=0.05, what="condition"):
    """Poll `predicate` until it returns a truthy value or `timeout` seconds pass."""
    deadline = time.monotonic() + timeout
    last = None
    while True:
        last = predicate()
        if last:
            return last
        if time.monotonic() >= deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what} (last={last!r})")
        time.sleep(interval)


# --------------------------------------------------------------------------- server


_LIVE_SERVERS = set()


@atexit.register
def _kill_leftover_servers():
    """Never leave a `kumo serve` behind, even when the run is interrupted."""
    for srv in list(_LIVE_SERVERS):
        srv.kill()


class KumoServer:
    """One `kumo serve` process on 127.0.0.1:0 with its own data dir."""

    def __init__(self, data_dir, config_text=DEFAULT_CONFIG, log_dir=None, test_credentials=True):
        # test_credentials: accept TEST_KEY/TEST_SECRET (via KUMO_AUTH_* unless already set in
        # the environment); False leaves authentication to the config (or generated key).
        self.test_credentials = test_credentials
        self.data_dir = str(data_dir)
        self.log_dir = str(log_dir or os.path.dirname(self.data_dir.rstrip("/")))
        self.config_text = config_text
        self.proc = None
        self.url = None
        self.stdout_lines = []
        self.first_stdout_line = None
        self._reader = None
        self._starts = 0

    def start(self, timeout=30):
        os.makedirs(self.data_dir, exist_ok=True)
        os.makedirs(self.log_dir, exist_ok=True)
        self._starts += 1
        args = [kumo_bin(), "serve", "--listen", "127.0.0.1:0", "--data-dir", self.data_dir]
        if self.config_text is not None:
            cfg = os.path.join(self.log_dir, "kumo.toml")
            with open(cfg, "w") as f:
                f.write(self.config_text)
            args += ["--config", cfg]
        self.stderr_path = os.path.join(self.log_dir, f"kumo-stderr-{self._starts}.log")
        self._stderr = open(self.stderr_path, "wb")
        self.stdout_lines = []
        env = dict(os.environ)
        # Every server of the suite shares one build of the compiled runtimes (Java, C#).
        env.setdefault("KUMO_RUNTIMES_BUILD_DIR", os.path.join(REPO_ROOT, "target", "kumo-runtimes"))
        if self.test_credentials:
            env.setdefault("KUMO_AUTH_ACCESS_KEY_ID", TEST_KEY)
            env.setdefault("KUMO_AUTH_SECRET_ACCESS_KEY", TEST_SECRET)
        self.proc = subprocess.Popen(
            args,
            env=env,
            stdout=subprocess.PIPE,
            stderr=self._stderr,
            stdin=subprocess.DEVNULL,
            cwd=self.log_dir,
        )
        lines = queue.Queue()

        def pump(stream, sink, q):
            for raw in stream:
                line = raw.decode("utf-8", "replace").rstrip("\r\n")
                sink.append(line)
                q.put(line)
            q.put(None)

        self._reader = threading.Thread(
            target=pump, args=(self.proc.stdout, self.stdout_lines, lines), daemon=True
        )
        self._reader.start()
        _LIVE_SERVERS.add(self)
        deadline = time.monotonic() + timeout
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                self.kill()
                raise AssertionError(f"kumo did not print its ready line in {timeout}s; {self.stderr_tail()}")
            try:
                line = lines.get(timeout=remaining)
            except queue.Empty:
                continue
            if line is None:
                code = self.proc.wait()
                raise AssertionError(f"kumo exited with {code} before ready; {self.stderr_tail()}")
            m = READY_RE.match(line)
            if m:
                self.first_stdout_line = self.stdout_lines[0]
                self.url = m.group(1)
                self.port = int(m.group(3))
                return self

    @property
    def pid(self):
        return self.proc.pid

    def stop(self, timeout=30):
        """SIGTERM and wait; returns the exit code (kills and raises if it hangs)."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            code = self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            raise AssertionError(f"kumo did not exit within {timeout}s of SIGTERM; {self.stderr_tail()}")
        finally:
            if self._reader is not None:
                self._reader.join(timeout=5)
            self._stderr.close()
        self.proc = None
        _LIVE_SERVERS.discard(self)
        return code

    def kill(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        _LIVE_SERVERS.discard(self)

    def stderr_tail(self, n=40):
        try:
            with open(self.stderr_path, "rb") as f:
                text = f.read().decode("utf-8", "replace")
            lines = re.sub(r"\x1b\[[0-9;]*m", "", text).splitlines()
            return "kumo stderr tail:\n" + "\n".join(lines[-n:])
        except OSError:
            return "(no stderr)"


def descendant_pids(pid):
    """All live descendants of `pid` (from /proc)."""
    children = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                stat = f.read()
        except OSError:
            continue
        # field 4 (ppid) comes after the ")" that closes the command name
        rest = stat[stat.rindex(")") + 2:].split()
        if rest[0] == "Z":
            continue
        children.setdefault(int(rest[1]), []).append(int(entry))
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        for c in children.get(p, []):
            out.append(c)
            todo.append(c)
    return out


def environment_pids(pid):
    """Descendants of `pid` that belong to execution environments: all of them except the
    slirp4netns and nft processes of the network namespaces the server prepares ahead, and the
    mkfs (run through nice) of the /tmp disks it prepares ahead."""
    def comm(p):
        try:
            with open(f"/proc/{p}/comm") as f:
                return f.read().strip()
        except OSError:
            return ""
    # (a child is named after the pool thread that forked it until it execs)
    helpers = {"slirp4netns", "nft", "kumo-netpool", "nice", "mkfs.ext4", "mke2fs", "kumo-tmppool"}
    return [p for p in descendant_pids(pid) if comm(p) not in helpers]


# --------------------------------------------------------------------------- clients


def lambda_client(url, region=REGION, validate=True, pool=10):
    return boto3.client(
        "lambda",
        endpoint_url=url,
        region_name=region,
        aws_access_key_id=TEST_KEY,
        aws_secret_access_key=TEST_SECRET,
        config=Config(
            # total_max_attempts=1: no retries at all ({"max_attempts": 1} would allow one retry,
            # which could hide throttles, 5xx and double-invokes)
            retries={"total_max_attempts": 1},
            read_timeout=120,
            connect_timeout=10,
            parameter_validation=validate,
            max_pool_connections=pool,
        ),
    )


def cli_env():
    env = dict(os.environ)
    env.update(
        AWS_ACCESS_KEY_ID=TEST_KEY,
        AWS_SECRET_ACCESS_KEY=TEST_SECRET,
        AWS_DEFAULT_REGION=REGION,
        AWS_CONFIG_FILE="/dev/null",
        AWS_SHARED_CREDENTIALS_FILE="/dev/null",
        AWS_PAGER="",
        AWS_MAX_ATTEMPTS="1",
        AWS_RETRY_MODE="standard",
    )
    for k in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_LAMBDA"):
        env.pop(k, None)
    return env


def aws(url, *args, timeout=180, cwd=None):
    """Run `aws --endpoint-url URL --region us-east-1 ARGS...`; returns CompletedProcess (text)."""
    cmd = ["aws", "--endpoint-url", url, "--region", REGION, "--cli-read-timeout", "120", *args]
    return subprocess.run(cmd, capture_output=True, text=True, env=cli_env(), timeout=timeout, cwd=cwd)


def aws_json(url, *args, **kw):
    res = aws(url, *args, "--output", "json", **kw)
    assert res.returncode == 0, f"aws {' '.join(args)} failed ({res.returncode}): {res.stderr}"
    return json.loads(res.stdout) if res.stdout.strip() else {}


def kumo(*args, timeout=180, cwd=None):
    """Run the `kumo` CLI (signing with TEST_KEY); returns CompletedProcess (text)."""
    env = dict(os.environ, AWS_ACCESS_KEY_ID=TEST_KEY, AWS_SECRET_ACCESS_KEY=TEST_SECRET)
    env.pop("AWS_SESSION_TOKEN", None)
    return subprocess.run(
        [kumo_bin(), *args], capture_output=True, text=True, timeout=timeout, cwd=cwd,
        stdin=subprocess.DEVNULL, env=env,
    )


def signed_request(url, method="GET", data=None, headers=None, service="lambda"):
    """A urllib Request signed (SigV4, TEST_KEY) the way botocore signs API calls."""
    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials

    aws_req = AWSRequest(method=method, url=url, data=data or b"", headers=dict(headers or {}))
    SigV4Auth(Credentials(TEST_KEY, TEST_SECRET), service, REGION).add_auth(aws_req)
    return urllib.request.Request(url, data=data, method=method, headers=dict(aws_req.headers.items()))


def decode_log(resp):
    """Decoded X-Amz-Log-Result of a boto3 invoke response."""
    assert "LogResult" in resp, f"no LogResult in invoke response: {resp.get('ResponseMetadata')}"
    return base64.b64decode(resp["LogResult"]).decode("utf-8", "replace")


def read_payload(resp):
    return resp["Payload"].read()


def error_code(exc):
    return exc.response.get("Error", {}).get("Code")


def http_status(exc_or_resp):
    r = exc_or_resp.response if hasattr(exc_or_resp, "response") else exc_or_resp
    return r["ResponseMetadata"]["HTTPStatusCode"]


def call(client, op, **kwargs):
    """(status, x-amzn-ErrorType code, message, body) of one boto3 call."""
    from botocore.exceptions import ClientError

    try:
        resp = getattr(client, op)(**kwargs)
    except ClientError as e:
        meta = e.response["ResponseMetadata"]
        error_type = meta["HTTPHeaders"].get("x-amzn-errortype", "").split(":")[0]
        return meta["HTTPStatusCode"], error_type, e.response["Error"].get("Message"), None
    body = {k: v for k, v in resp.items() if k != "ResponseMetadata"}
    return resp["ResponseMetadata"]["HTTPStatusCode"], None, None, body


def expect_error(client, op, status, error_type, message, **kwargs):
    """Calls `op` and asserts AWS's status, error type and message."""
    got_status, got_type, got_message, _ = call(client, op, **kwargs)
    assert (got_status, got_type, got_message) == (status, error_type, message), (op, kwargs)
