// Node.js runtime bootstrap.
//
// Loads the handler named by $_HANDLER from $LAMBDA_TASK_ROOT, then serves
// invocations one at a time over the Lambda Runtime API (2018-06-01) at
// http://$AWS_LAMBDA_RUNTIME_API. Standard library only.
//
// Behaviour (handler resolution, callback/async handlers, error documents,
// console log lines, context object) follows the AWS managed Node.js runtime.
//
// CommonJS rather than an ES module: Node starts a CommonJS entry point ~4 ms sooner, which
// every cold start pays. ES module handlers are loaded with import() all the same.

'use strict';

const fs = require('node:fs');
const net = require('node:net');
const Module = require('node:module');
const path = require('node:path');
const { pathToFileURL } = require('node:url');
const util = require('node:util');

const API = '/2018-06-01/runtime';
const REQUEST_ID = Symbol.for('aws.lambda.runtime.requestId'); // read by logging libraries too

// ---------------------------------------------------------------------------- errors

function defineError(name) {
  const cls = class extends Error {};
  cls.prototype.name = `Runtime.${name}`;
  return cls;
}
const ImportModuleError = defineError('ImportModuleError');
const HandlerNotFound = defineError('HandlerNotFound');
const MalformedHandlerName = defineError('MalformedHandlerName');
const UserCodeSyntaxError = defineError('UserCodeSyntaxError');
const NodeJsExit = defineError('NodeJsExit');
class UnhandledPromiseRejection extends Error {
  constructor(reason, promise) {
    super(reason);
    this.reason = reason;
    this.promise = promise;
  }
}
UnhandledPromiseRejection.prototype.name = 'Runtime.UnhandledPromiseRejection';

const isErrorLike = (e) =>
  e && typeof e.name === 'string' && typeof e.message === 'string' && typeof e.stack === 'string';

// Error document posted to the Runtime API.
function toRapidResponse(error) {
  try {
    if (util.types.isNativeError(error) || isErrorLike(error)) {
      return { errorType: error.name, errorMessage: error.message, trace: error.stack.split('\n') };
    }
    return { errorType: typeof error, errorMessage: error.toString(), trace: [] };
  } catch {
    return {
      errorType: 'handled',
      errorMessage:
        'callback called with Error argument, but there was a problem while retrieving one or more of its message, name, and stack',
    };
  }
}

// Error as logged: name, message, stack lines and any enumerable properties.
function toFormatted(error) {
  const withProperties = (v) => {
    if (!(v instanceof Error)) return v;
    const ret = Object.assign({ errorType: v.name, errorMessage: v.message, code: v.code }, v);
    if (typeof v.stack === 'string') ret.stack = v.stack.split('\n');
    return ret;
  };
  try {
    return '\t' + JSON.stringify(error, (_k, v) => withProperties(v));
  } catch {
    return '\t' + JSON.stringify(toRapidResponse(error));
  }
}

function logError(label, err) {
  console.error(label, toFormatted(err instanceof Error ? err : new Error(err)));
}

// ---------------------------------------------------------------------------- console

// Each console call writes one line: `time\trequestId\tLEVEL\tmessage`, with
// newlines inside the message turned into \r so it stays a single log event.
function patchConsole() {
  const levels = ['TRACE', 'DEBUG', 'INFO', 'WARN', 'ERROR', 'FATAL'];
  const min = Math.max(0, levels.indexOf(process.env.AWS_LAMBDA_LOG_LEVEL?.toUpperCase()));
  const logger = (level) => (message, ...params) => {
    const line = `${new Date().toISOString()}\t${globalThis[REQUEST_ID]}\t${level}\t${util.format(message, ...params)}`;
    process.stdout.write(line.replace(/\n/g, '\r') + '\n');
  };
  const at = (level) => (levels.indexOf(level) >= min ? logger(level) : () => {});
  console.trace = at('TRACE');
  console.debug = at('DEBUG');
  console.info = console.log = at('INFO');
  console.warn = at('WARN');
  console.error = at('ERROR');
  console.fatal = logger('FATAL');
}

// ---------------------------------------------------------------------------- Runtime API

const [apiHost, apiPort] = (() => {
  const address = process.env.AWS_LAMBDA_RUNTIME_API ?? '';
  const i = address.lastIndexOf(':');
  return [address.slice(0, i).replace(/^\[|\]$/g, '') || '127.0.0.1', Number(address.slice(i + 1))];
})();
// One kept-alive HTTP/1.1 connection, one request at a time: the runtime never has two in
// flight. Written on `net` because node:http's per-request machinery costs more than the
// whole exchange with the platform.
let conn = null;

function connect() {
  const socket = net.createConnection({ host: apiHost, port: apiPort });
  socket.setNoDelay(true);
  const c = { socket, buffer: Buffer.alloc(0), waiting: null, closed: false };
  socket.on('data', (chunk) => {
    c.buffer = c.buffer.length ? Buffer.concat([c.buffer, chunk]) : chunk;
    if (c.waiting) c.waiting.check();
  });
  const fail = (err) => {
    c.closed = true;
    if (conn === c) conn = null;
    if (c.waiting) c.waiting.fail(err ?? Object.assign(new Error('connection closed'), { code: 'ECONNRESET' }));
  };
  socket.on('error', fail);
  socket.on('close', () => fail());
  return c;
}

// Parses one response from the front of `c.buffer`; null until it is complete.
function takeResponse(c) {
  const end = c.buffer.indexOf('\r\n\r\n');
  if (end < 0) return null;
  const lines = c.buffer.subarray(0, end).toString('latin1').split('\r\n');
  const status = Number(lines[0].split(' ')[1]);
  const headers = {};
  for (const line of lines.slice(1)) {
    const i = line.indexOf(':');
    if (i > 0) headers[line.slice(0, i).trim().toLowerCase()] = line.slice(i + 1).trim();
  }
  let start = end + 4;
  let body;
  if (/chunked/i.test(headers['transfer-encoding'] ?? '')) {
    const parts = [];
    for (;;) {
      const eol = c.buffer.indexOf('\r\n', start);
      if (eol < 0) return null;
      const size = parseInt(c.buffer.subarray(start, eol).toString('latin1'), 16);
      if (c.buffer.length < eol + 2 + size + 2) return null;
      if (size === 0) {
        const fin = c.buffer.indexOf('\r\n\r\n', eol); // after any trailers
        if (fin < 0) return null;
        start = fin + 4;
        break;
      }
      parts.push(c.buffer.subarray(eol + 2, eol + 2 + size));
      start = eol + 2 + size + 2;
    }
    body = Buffer.concat(parts);
  } else {
    const length = Number(headers['content-length'] ?? 0);
    if (c.buffer.length < start + length) return null;
    body = c.buffer.subarray(start, start + length);
    start += length;
  }
  c.buffer = c.buffer.subarray(start);
  return { status, headers, body };
}

function request(method, urlPath, body, headers = {}) {
  const send = (mayRetry) =>
    new Promise((resolve, reject) => {
      const reused = conn !== null && !conn.closed;
      const c = reused ? conn : (conn = connect());
      c.waiting = {
        check() {
          const res = takeResponse(c);
          if (res) {
            c.waiting = null;
            c.socket.unref(); // an idle connection must not keep the event loop alive
            resolve(res);
          }
        },
        fail(err) {
          c.waiting = null;
          // A kept-alive connection may have been closed by the server while idle.
          if (mayRetry && reused) send(false).then(resolve, reject);
          else reject(err);
        },
      };
      c.socket.ref();
      const payload = body === undefined ? Buffer.alloc(0) : Buffer.from(body);
      let head = `${method} ${urlPath} HTTP/1.1\r\nHost: ${apiHost}:${apiPort}\r\n`;
      for (const [k, v] of Object.entries(headers)) {
        if (k.toLowerCase() !== 'content-length') head += `${k}: ${v}\r\n`;
      }
      head += `Content-Length: ${payload.length}\r\n\r\n`;
      c.socket.write(payload.length ? Buffer.concat([Buffer.from(head, 'latin1'), payload]) : head);
    });
  return send(true);
}

// Resolves once everything written to stdout/stderr has reached the pipe.
function outputFlushed() {
  const pending = [process.stdout, process.stderr].filter((s) => s.writableLength > 0);
  return Promise.all(pending.map((s) => new Promise((resolve) => s.write('', resolve))));
}

async function post(urlPath, body, headers = {}) {
  await outputFlushed(); // the platform reads the log pipe as soon as the POST lands
  const res = await request('POST', urlPath, body, {
    'Content-Type': 'application/json',
    'Content-Length': Buffer.byteLength(body),
    ...headers,
  });
  if (res.status >= 300) {
    process.stderr.write(`Runtime API rejected POST ${urlPath}: ${res.status} ${res.body.toString().slice(0, 200)}\n`);
  }
}

function postError(urlPath, error) {
  const doc = toRapidResponse(error);
  const errorType = String(doc.errorType).replace(/[^\x20-\x7e]/g, '');
  return post(urlPath, JSON.stringify(doc), { 'Lambda-Runtime-Function-Error-Type': errorType });
}

// ---------------------------------------------------------------------------- handler loading

// Nearest package.json decides whether .js files are ES modules.
function isTypeModule(folder) {
  if (folder.endsWith('/node_modules')) return false;
  const pj = path.join(folder, 'package.json');
  if (fs.existsSync(pj)) {
    try {
      return JSON.parse(fs.readFileSync(pj, 'utf8'))?.type === 'module';
    } catch (e) {
      console.warn(`${pj} cannot be read, it will be ignored for ES module detection purposes.`, e);
      return false;
    }
  }
  const parent = path.dirname(folder);
  return parent === folder ? false : isTypeModule(parent);
}

async function loadModule(appRoot, moduleRoot, name) {
  const file = path.resolve(appRoot, moduleRoot, name);
  const importFile = (f) => import(pathToFileURL(f).href);
  if (fs.existsSync(file)) return require(file);
  const esm = isTypeModule(path.dirname(file));
  if (fs.existsSync(file + '.js')) return esm ? importFile(file + '.js') : require(file + '.js');
  if (fs.existsSync(file + '.mjs')) return importFile(file + '.mjs');
  if (fs.existsSync(file + '.cjs')) return require(file + '.cjs');
  return require(require.resolve(name, { paths: [appRoot, moduleRoot] }));
}

// Handler `[dir/]file.export[.nested]`: split at the first dot of the last path segment.
async function loadHandler(appRoot, fullHandler) {
  if (fullHandler.includes('..')) {
    throw new MalformedHandlerName(
      `'${fullHandler}' is not a valid handler name. Use absolute paths when specifying root directories in handler names.`,
    );
  }
  const base = path.basename(fullHandler);
  const moduleRoot = fullHandler.substring(0, fullHandler.indexOf(base));
  const match = base.match(/^([^.]*)\.(.*)$/);
  if (!match) throw new MalformedHandlerName('Bad handler');
  const [, moduleName, handlerPath] = match;

  let app;
  try {
    app = await loadModule(appRoot, moduleRoot, moduleName);
  } catch (e) {
    if (e instanceof SyntaxError) throw new UserCodeSyntaxError(e);
    if (e?.code === 'MODULE_NOT_FOUND') throw new ImportModuleError(e);
    throw e;
  }
  const fn = handlerPath.split('.').reduce((obj, key) => obj && obj[key], app);
  if (!fn) throw new HandlerNotFound(`${fullHandler} is undefined or not exported`);
  if (typeof fn !== 'function') throw new HandlerNotFound(`${fullHandler} is not a function`);
  return fn;
}

// ---------------------------------------------------------------------------- invocations

let handler;
let handlerIsAsync = false;
let lastRequestId; // where fatal errors are reported; undefined during init
let onBeforeExit = null; // runs when the event loop drains (callbackWaitsForEmptyEventLoop)

function parseJsonHeader(value, name) {
  if (value === undefined) return undefined;
  try {
    return JSON.parse(value);
  } catch (err) {
    throw new Error(`Cannot parse ${name} as json: ${err.toString()}`);
  }
}

function scheduleNext() {
  setImmediate(() => nextInvocation().catch((err) => fatal('Unexpected Top Level Error', err, 1)));
}

async function nextInvocation() {
  const res = await request('GET', `${API}/invocation/next`);
  if (res.status !== 200) {
    process.stderr.write(`Runtime API /next failed: ${res.status} ${res.body.toString().slice(0, 200)}\n`);
    process.exit(1);
  }
  invoke(res.headers, res.body.toString('utf8'));
}

function invoke(headers, body) {
  const id = headers['lambda-runtime-aws-request-id'];
  const base = `${API}/invocation/${encodeURIComponent(id)}`;
  lastRequestId = id;
  globalThis[REQUEST_ID] = id;
  if (headers['lambda-runtime-trace-id']) process.env._X_AMZN_TRACE_ID = headers['lambda-runtime-trace-id'];
  else delete process.env._X_AMZN_TRACE_ID;

  let finished = false; // only the first of callback/succeed/fail/done counts
  let completed = false;
  let waitForEmptyEventLoop = true;
  const once = (fn) => (...args) => {
    if (!finished) {
      finished = true;
      fn(...args);
    }
  };
  const reported = (promise) => promise.then(scheduleNext, (err) => fatal('Unexpected Top Level Error', err, 1));
  const respond = (result) => {
    if (completed) {
      console.error('Invocation has already been reported as done. Cannot call complete more than once per invocation.');
      return;
    }
    completed = true;
    let payload;
    try {
      payload = JSON.stringify(result === undefined ? null : result) ?? 'null';
    } catch {
      const err = new Error('Unable to stringify response body');
      logError('Invoke Error', err);
      return reported(postError(`${base}/error`, err));
    }
    reported(post(`${base}/response`, payload));
  };
  const fail = (err) => {
    completed = true;
    logError('Invoke Error', err);
    reported(postError(`${base}/error`, err));
  };
  const done = (err, result) => {
    onBeforeExit = null;
    if (err !== undefined && err !== null) fail(err);
    else respond(result);
  };
  const callback = once((err, result) => {
    onBeforeExit = null;
    if (err !== undefined && err !== null) fail(err);
    else if (!waitForEmptyEventLoop) respond(result);
    else onBeforeExit = () => setImmediate(() => respond(result));
  });

  // If the event loop drains before the handler reports: a sync/callback handler
  // answers null, an async one fails (its promise can never settle).
  onBeforeExit = () => {
    finished = true;
    if (handlerIsAsync) fail(new NodeJsExit('The Lambda runtime client detected an unexpected Node.js exit code. This is most commonly caused by a Promise that was never settled.'));
    else respond(null);
  };

  try {
    const context = {
      get callbackWaitsForEmptyEventLoop() {
        return waitForEmptyEventLoop;
      },
      set callbackWaitsForEmptyEventLoop(value) {
        waitForEmptyEventLoop = value;
      },
      succeed: once((result) => done(null, result)),
      fail: once((err) => done(err ?? 'handled', null)),
      done: once(done),
      functionVersion: process.env.AWS_LAMBDA_FUNCTION_VERSION,
      functionName: process.env.AWS_LAMBDA_FUNCTION_NAME,
      memoryLimitInMB: process.env.AWS_LAMBDA_FUNCTION_MEMORY_SIZE,
      logGroupName: process.env.AWS_LAMBDA_LOG_GROUP_NAME,
      logStreamName: process.env.AWS_LAMBDA_LOG_STREAM_NAME,
      clientContext: parseJsonHeader(headers['lambda-runtime-client-context'], 'ClientContext'),
      identity: parseJsonHeader(headers['lambda-runtime-cognito-identity'], 'CognitoIdentity'),
      invokedFunctionArn: headers['lambda-runtime-invoked-function-arn'],
      awsRequestId: id,
      getRemainingTimeInMillis: () => Number(headers['lambda-runtime-deadline-ms']) - Date.now(),
    };
    const result = handler(JSON.parse(body), context, callback);
    if (result && typeof result.then === 'function') {
      result.then(context.succeed, context.fail);
    }
  } catch (err) {
    callback(err);
  }
}

// ---------------------------------------------------------------------------- startup

let fatalReported = false;
// Report an error nothing else caught (to init/error during init, else to the
// last invocation) and exit.
function fatal(label, err, exitCode) {
  logError(label, err);
  if (fatalReported) return;
  fatalReported = true;
  const urlPath =
    lastRequestId === undefined
      ? `${API}/init/error`
      : `${API}/invocation/${encodeURIComponent(lastRequestId)}/error`;
  postError(urlPath, err)
    .catch(() => {})
    .then(() => process.exit(lastRequestId === undefined ? 1 : exitCode));
}

process.on('uncaughtException', (err) => fatal('Uncaught Exception', err, 129));
process.on('unhandledRejection', (reason, promise) =>
  fatal('Unhandled Promise Rejection', new UnhandledPromiseRejection(reason, promise), 128),
);
process.on('beforeExit', () => {
  const run = onBeforeExit;
  onBeforeExit = null;
  run?.();
});

// Layers: /opt/nodejs/node<major>/node_modules and /opt/nodejs/node_modules (CommonJS).
if (!process.env.NODE_PATH) {
  const major = process.versions.node.split('.')[0];
  process.env.NODE_PATH = `/opt/nodejs/node${major}/node_modules:/opt/nodejs/node_modules`;
  Module._initPaths?.();
}

patchConsole();
(async () => {
  try {
    handler = await loadHandler(process.env.LAMBDA_TASK_ROOT || process.cwd(), process.env._HANDLER ?? '');
    handlerIsAsync = handler.constructor?.name === 'AsyncFunction';
    scheduleNext();
  } catch (err) {
    fatal('Uncaught Exception', err, 1);
  }
})();
