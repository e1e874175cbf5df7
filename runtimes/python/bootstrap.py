"""Python runtime bootstrap.

Loads the handler named by $_HANDLER from $LAMBDA_TASK_ROOT, then serves
invocations one at a time over the Lambda Runtime API (2018-06-01) at
http://$AWS_LAMBDA_RUNTIME_API. Started as `python3 -S -u bootstrap.py` (or its precompiled
bootstrap.pyc, which spares every cold start the compilation):
standard library only, and nothing from the host's site-packages.

Behaviour (handler resolution, error documents, log lines, context object)
follows the AWS managed Python runtime.
"""

import _json
import _socket
import importlib
import os
import sys
import time

API = "/2018-06-01/runtime"
ERROR_LINE_SEPARATOR = "\r"  # keeps a multi-line error report in one log line
ERROR_INDENT = "\u00a0"  # leading spaces of traceback lines, as AWS prints them
LOG_FORMAT = "[%(levelname)s]\t%(asctime)s.%(msecs)03dZ\t%(aws_request_id)s\t%(message)s\n"

_request_id = None  # id of the current invocation, read by the logging filter


class FaultException(Exception):
    """A runtime-level failure reported with a `Runtime.*` error type."""

    def __init__(self, error_type, msg, trace=None):
        super().__init__(msg)
        self.error_type = error_type
        self.msg = msg
        self.trace = trace


# --------------------------------------------------------------------------- Runtime API


class _Reader:
    """Buffered reads from a `_socket.socket` (the `socket` module costs ~8 ms to import)."""

    def __init__(self, sock):
        self.sock = sock
        self.buf = b""

    def _fill(self):
        chunk = self.sock.recv(65536)
        self.buf += chunk
        return bool(chunk)

    def readline(self):
        while True:
            i = self.buf.find(b"\n")
            if i >= 0:
                line, self.buf = self.buf[: i + 1], self.buf[i + 1 :]
                return line
            if not self._fill():
                line, self.buf = self.buf, b""
                return line

    def read(self, n=-1):
        if n < 0:
            while self._fill():
                pass
            data, self.buf = self.buf, b""
            return data
        parts, have = [self.buf], len(self.buf)
        self.buf = b""
        while have < n:
            chunk = self.sock.recv(max(n - have, 65536))
            if not chunk:
                break
            parts.append(chunk)
            have += len(chunk)
        data = b"".join(parts)
        data, self.buf = data[:n], data[n:]
        return data

    def close(self):
        self.buf = b""


def _connect(address):
    host, port = address
    family = _socket.AF_INET6 if b":" in host else _socket.AF_INET
    sock = _socket.socket(family, _socket.SOCK_STREAM)
    try:
        sock.connect((host.decode("ascii"), port))
    except BaseException:
        sock.close()
        raise
    sock.setsockopt(_socket.IPPROTO_TCP, _socket.TCP_NODELAY, 1)
    return sock


class RuntimeClient:
    """Tiny keep-alive HTTP/1.1 client; cheaper to import than http.client."""

    def __init__(self, address):
        host, _, port = address.rpartition(":")
        self.host_header = address
        self.address = ((host.strip("[]") or "127.0.0.1").encode("ascii"), int(port))
        self.sock = self.rfile = None

    def _close(self):
        if self.sock is not None:
            self.rfile.close()
            self.sock.close()
        self.sock = self.rfile = None

    def request(self, method, path, body=b"", headers=()):
        lines = [f"{method} {path} HTTP/1.1", f"Host: {self.host_header}"]
        if method != "GET":
            lines.append(f"Content-Length: {len(body)}")
        lines.extend(f"{name}: {value}" for name, value in headers)
        data = ("\r\n".join(lines) + "\r\n\r\n").encode("utf-8", "replace") + body
        # A kept-alive connection may have been closed by the server while idle:
        # retry once on a new connection if it fails before any response byte.
        while True:
            reused = self.sock is not None
            if not reused:
                self.sock = _connect(self.address)
                self.rfile = _Reader(self.sock)
            try:
                self.sock.sendall(data)
                status_line = self.rfile.readline()
            except OSError:
                status_line = b""
            if status_line:
                break
            self._close()
            if not reused:
                raise ConnectionError(f"Runtime API closed the connection ({method} {path})")
        status = int(status_line.split()[1])
        response_headers = {}
        while True:
            line = self.rfile.readline()
            if line in (b"\r\n", b"\n", b""):
                break
            name, _, value = line.decode("utf-8", "replace").partition(":")
            response_headers[name.strip().lower()] = value.strip()
        body = self._read_body(status, response_headers)
        if response_headers.get("connection", "").lower() == "close":
            self._close()
        return status, response_headers, body

    def _read_body(self, status, headers):
        if "chunked" in headers.get("transfer-encoding", "").lower():
            chunks = []
            while True:
                size = int(self.rfile.readline().split(b";")[0], 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass  # trailers
                    return b"".join(chunks)
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
        if "content-length" in headers:
            return self.rfile.read(int(headers["content-length"]))
        if status in (204, 304) or status < 200:
            return b""
        body = self.rfile.read()  # delimited by the end of the connection
        self._close()
        return body

    def post(self, path, body, headers=()):
        _flush_output()  # the platform reads the log pipe as soon as the POST lands
        status, _, response = self.request("POST", path, body, headers)
        if status >= 300:
            sys.stderr.write(f"Runtime API rejected POST {path}: {status} {response[:200]!r}\n")

    def post_error(self, path, error):
        error_type = error["errorType"].replace("\r", " ").replace("\n", " ")
        headers = [
            ("Content-Type", "application/vnd.aws.lambda.error+json"),
            ("Lambda-Runtime-Function-Error-Type", error_type),
        ]
        self.post(path, to_json(error).encode("utf-8"), headers)


def _flush_output():
    for stream in {sys.stdout, sys.stderr, sys.__stdout__, sys.__stderr__}:
        try:
            stream.flush()
        except Exception:
            pass


# --------------------------------------------------------------------------- JSON


def _json_default(obj):
    # Decimal (e.g. from DynamoDB) has no JSON form in the standard library.
    decimal = sys.modules.get("decimal")
    if decimal is not None and isinstance(obj, decimal.Decimal):
        if obj.is_finite() and obj == obj.to_integral_value():
            return int(obj)
        return float(obj)
    raise TypeError(f"Object of type {type(obj).__name__} is not JSON serializable")


# JSON straight from the `_json` accelerator: the `json` package imports `re` and costs ~8 ms of
# every cold start. Same output as json.dumps/json.loads with their default settings.
# Like AWS: non-ASCII characters are escaped, except on python3.12.
_ENSURE_ASCII = os.environ.get("AWS_EXECUTION_ENV") != "AWS_Lambda_python3.12"
_encode_str = _json.encode_basestring_ascii if _ENSURE_ASCII else _json.encode_basestring


def to_json(obj):
    if isinstance(obj, str):
        return _encode_str(obj)
    encoder = _json.make_encoder(
        {}, _json_default, _encode_str, None, ": ", ", ", False, False, True
    )
    return "".join(encoder(obj, 0))


class _DecodeContext:
    strict = True
    object_hook = None
    object_pairs_hook = None
    parse_float = float
    parse_int = int
    memo = None

    @staticmethod
    def parse_constant(name):
        return {"-Infinity": float("-inf"), "Infinity": float("inf"), "NaN": float("nan")}[name]


_scan = _json.make_scanner(_DecodeContext)
_WHITESPACE = " \t\n\r"


def from_json(text):
    if isinstance(text, (bytes, bytearray)):
        text = bytes(text).decode("utf-8-sig" if text[:3] == b"\xef\xbb\xbf" else "utf-8")
    start = len(text) - len(text.lstrip(_WHITESPACE))
    try:
        value, end = _scan(text, start)
    except StopIteration as e:
        raise ValueError(_json_error("Expecting value", text, e.value)) from None
    rest = len(text) - len(text[end:].lstrip(_WHITESPACE))
    if rest != len(text):
        raise ValueError(_json_error("Extra data", text, rest))
    return value


def _json_error(msg, text, pos):
    line = text.count("\n", 0, pos) + 1
    column = pos - text.rfind("\n", 0, pos)
    return f"{msg}: line {line} column {column} (char {pos})"


def marshal_response(result):
    if isinstance(result, bytes):
        return result, "application/unknown"
    try:
        return to_json(result).encode("utf-8"), "application/json"
    except Exception as e:
        raise FaultException("Runtime.MarshalError", f"Unable to marshal response: {e}")


def unmarshal_event(body):
    try:
        return from_json(body)
    except Exception as e:
        raise FaultException("Runtime.UnmarshalError", f"Unable to unmarshal input: {e}")


# --------------------------------------------------------------------------- errors


def make_error(message, error_type, stack_trace, request_id=None):
    return {
        "errorMessage": message or "",
        "errorType": error_type or "",
        "requestId": request_id if request_id is not None else "",
        "stackTrace": stack_trace or [],
    }


# The file name this code was compiled with (the platform may run a precompiled bootstrap.pyc).
_OWN_FILE = (lambda: None).__code__.co_filename


def error_from_exception(exc, request_id=None):
    """Error document for an exception raised by user code; bootstrap frames dropped."""
    import traceback

    frames = traceback.extract_tb(exc.__traceback__)
    for i, frame in enumerate(frames):
        if frame.filename != _OWN_FILE:
            frames = frames[i:]
            break
    stack = traceback.format_list([(f.filename, f.lineno, f.name, f.line) for f in frames])
    return make_error(str(exc), type(exc).__name__, stack, request_id)


def log_error(error):
    """Write `[ERROR] Type: message` plus the traceback as a single log line."""
    description = "[ERROR]"
    if error["errorType"]:
        description += " " + error["errorType"]
    if error["errorMessage"]:
        description += (":" if error["errorType"] else "") + " " + error["errorMessage"]
    lines = [description, "Traceback (most recent call last):"]
    for element in error["stackTrace"]:
        for line in element.splitlines() or [""]:
            stripped = line.lstrip(" ")
            lines.append(ERROR_INDENT * (len(line) - len(stripped)) + stripped)
    sys.stdout.write(ERROR_LINE_SEPARATOR.join(lines) + "\n")


# --------------------------------------------------------------------------- handler


def load_handler(handler):
    try:
        modname, fname = handler.rsplit(".", 1)
    except ValueError as e:
        raise FaultException("Runtime.MalformedHandlerName", f"Bad handler '{handler}': {e}")
    try:
        if modname.split(".")[0] in sys.builtin_module_names:
            raise FaultException(
                "Runtime.BuiltInModuleConflict",
                f"Cannot use built-in module {modname} as a handler module",
            )
        module = importlib.import_module(modname.replace("/", "."))
    except ImportError as e:
        raise FaultException("Runtime.ImportModuleError", f"Unable to import module '{modname}': {e}")
    except SyntaxError as e:
        trace = ['  File "%s" Line %s\n    %s' % (e.filename, e.lineno, e.text)]
        raise FaultException(
            "Runtime.UserCodeSyntaxError", f"Syntax error in module '{modname}': {e}", trace
        )
    try:
        return getattr(module, fname)
    except AttributeError:
        raise FaultException("Runtime.HandlerNotFound", f"Handler '{fname}' missing on module '{modname}'")


# --------------------------------------------------------------------------- context


class CognitoIdentity:
    __slots__ = ["cognito_identity_id", "cognito_identity_pool_id"]


class Client:
    __slots__ = ["installation_id", "app_title", "app_version_name", "app_version_code", "app_package_name"]


class ClientContext:
    __slots__ = ["custom", "env", "client"]


def _object_from_dict(cls, values):
    if values is None:
        return None
    obj = cls()
    for field in cls.__slots__:
        setattr(obj, field, values.get(field))
    return obj


def _json_header(headers, name, label):
    value = headers.get(name)
    if not value:
        return None
    try:
        return from_json(value)
    except Exception as e:
        raise FaultException("Runtime.LambdaContextUnmarshalError", f"Unable to parse {label} JSON: {e}")


class LambdaContext:
    def __init__(self, request_id, headers):
        env = os.environ
        self.aws_request_id = request_id
        self.log_group_name = env.get("AWS_LAMBDA_LOG_GROUP_NAME")
        self.log_stream_name = env.get("AWS_LAMBDA_LOG_STREAM_NAME")
        self.function_name = env.get("AWS_LAMBDA_FUNCTION_NAME")
        self.memory_limit_in_mb = env.get("AWS_LAMBDA_FUNCTION_MEMORY_SIZE")  # a string, as on AWS
        self.function_version = env.get("AWS_LAMBDA_FUNCTION_VERSION")
        self.invoked_function_arn = headers.get("lambda-runtime-invoked-function-arn")
        self.tenant_id = headers.get("lambda-runtime-aws-tenant-id")
        self.client_context = _object_from_dict(
            ClientContext, _json_header(headers, "lambda-runtime-client-context", "Client Context")
        )
        if self.client_context is not None:
            self.client_context.client = _object_from_dict(Client, self.client_context.client)
        identity = _json_header(headers, "lambda-runtime-cognito-identity", "Cognito Identity") or {}
        self.identity = CognitoIdentity()
        self.identity.cognito_identity_id = identity.get("cognitoIdentityId")
        self.identity.cognito_identity_pool_id = identity.get("cognitoIdentityPoolId")
        self._deadline_ms = int(headers.get("lambda-runtime-deadline-ms") or 0)

    def get_remaining_time_in_millis(self):
        return max(self._deadline_ms - int(time.time() * 1000), 0)

    def log(self, msg):
        sys.stdout.write(str(msg))

    def __repr__(self):
        return (
            f"LambdaContext([aws_request_id={self.aws_request_id},log_group_name={self.log_group_name},"
            f"log_stream_name={self.log_stream_name},function_name={self.function_name},"
            f"memory_limit_in_mb={self.memory_limit_in_mb},function_version={self.function_version},"
            f"invoked_function_arn={self.invoked_function_arn},client_context={self.client_context},"
            f"identity={self.identity}])"
        )


# --------------------------------------------------------------------------- logging


def configure_logging(logging):
    """Give the root logger the AWS handler: stdout, `[LEVEL]\\ttime\\trequest id\\tmessage`."""

    class LambdaLoggerHandler(logging.Handler):
        def emit(self, record):
            try:
                sys.stdout.write(self.format(record))
            except Exception:
                self.handleError(record)

    class RequestIdFilter(logging.Filter):
        def filter(self, record):
            record.aws_request_id = _request_id or ""
            return True

    logging.Formatter.converter = time.gmtime
    handler = LambdaLoggerHandler()
    handler.setFormatter(logging.Formatter(LOG_FORMAT, "%Y-%m-%dT%H:%M:%S"))
    handler.addFilter(RequestIdFilter())
    root = logging.getLogger()
    # Without AWS_LAMBDA_LOG_LEVEL the root level stays WARNING, as on AWS.
    level = (os.environ.get("AWS_LAMBDA_LOG_LEVEL") or "").upper().replace("TRACE", "DEBUG")
    if level in logging._nameToLevel:
        root.setLevel(level)
    root.addHandler(handler)


class _ConfigureLoggingOnImport:
    """Meta-path hook: sets up `logging` when user code first imports it, so
    functions that never log do not pay for importing it."""

    def find_spec(self, name, path=None, target=None):
        if name != "logging":
            return None
        sys.meta_path.remove(self)
        for finder in sys.meta_path:
            find_spec = getattr(finder, "find_spec", None)
            spec = find_spec(name, path, target) if find_spec else None
            if spec is not None:
                spec.loader = _ConfiguringLoader(spec.loader)
                return spec
        return None


class _ConfiguringLoader:
    def __init__(self, loader):
        self.loader = loader

    def __getattr__(self, name):
        return getattr(self.loader, name)

    def create_module(self, spec):
        return self.loader.create_module(spec)

    def exec_module(self, module):
        self.loader.exec_module(module)
        configure_logging(module)


# --------------------------------------------------------------------------- main loop


def setup_sys_path(task_root):
    # Drop the bootstrap's own directory; then task root first, then layers.
    if not getattr(sys.flags, "safe_path", False) and sys.path:
        del sys.path[0]
    layer_site = "/opt/python/lib/python%d.%d/site-packages" % sys.version_info[:2]
    sys.path[:0] = [task_root, layer_site, "/opt/python"]
    if os.path.isdir(layer_site):
        import site  # with -S this only defines functions

        site.addsitedir(layer_site)  # honours .pth files; the dir is already on the path


def handle_invocation(client, handler, headers, body):
    global _request_id
    request_id = headers.get("lambda-runtime-aws-request-id", "")
    _request_id = request_id
    trace_id = headers.get("lambda-runtime-trace-id")
    if trace_id:
        os.environ["_X_AMZN_TRACE_ID"] = trace_id
    else:
        os.environ.pop("_X_AMZN_TRACE_ID", None)

    try:
        context = LambdaContext(request_id, headers)
        event = unmarshal_event(body)
        result = handler(event, context)
        payload, content_type = marshal_response(result)
    except FaultException as e:
        error = make_error(e.msg, e.error_type, e.trace, request_id)
    except Exception as e:
        error = error_from_exception(e, request_id)
    else:
        client.post(f"{API}/invocation/{request_id}/response", payload, [("Content-Type", content_type)])
        return
    log_error(error)
    client.post_error(f"{API}/invocation/{request_id}/error", error)


def main():
    task_root = os.environ.get("LAMBDA_TASK_ROOT") or os.getcwd()
    setup_sys_path(task_root)
    if "logging" in sys.modules:
        configure_logging(sys.modules["logging"])
    else:
        sys.meta_path.insert(0, _ConfigureLoggingOnImport())
    client = RuntimeClient(os.environ["AWS_LAMBDA_RUNTIME_API"])

    # Init: import the handler module once; module-level code runs here.
    try:
        handler = load_handler(os.environ.get("_HANDLER", ""))
    except FaultException as e:
        error = make_error(e.msg, e.error_type, e.trace)
    except Exception as e:
        error = error_from_exception(e)
    else:
        error = None
    if error is not None:
        log_error(error)
        client.post_error(f"{API}/init/error", error)
        sys.exit(1)

    while True:
        status, headers, body = client.request("GET", f"{API}/invocation/next")
        if status != 200:
            sys.stderr.write(f"Runtime API /next failed: {status} {body[:200]!r}\n")
            sys.exit(1)
        handle_invocation(client, handler, headers, body)


if __name__ == "__main__":
    main()
