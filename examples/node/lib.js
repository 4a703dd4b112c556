'use strict';
// Shared helpers for the Node client and worker. Everything here comes from
// protos/keel/v1/*.proto, loaded at run time: no generated code, no keel SDK.
const fs = require('fs');
const path = require('path');
const grpc = require('@grpc/grpc-js');
const protoLoader = require('@grpc/proto-loader');

const PROTO_DIR = path.resolve(__dirname, '..', '..', 'protos');

// keepCase: field names as in the .proto (workflow_id, not workflowId).
// longs: String: int64/uint64 (epoch, seq, executions) arrive as decimal
// strings; echo them back unchanged rather than doing arithmetic on them.
// enums: String: statuses arrive as "WORKFLOW_STATUS_SUCCESS".
// oneofs: true: a message with a oneof also carries its case name, e.g.
// CoordinatorMessage.body === "run_step".
const definition = protoLoader.loadSync(
  ['keel/v1/client_service.proto', 'keel/v1/worker_service.proto'],
  { keepCase: true, longs: String, enums: String, defaults: true, oneofs: true, includeDirs: [PROTO_DIR] },
);
const keel = grpc.loadPackageDefinition(definition).keel.v1;

// The Python SDK's channel options (worker/_rpc.py).
const CHANNEL_OPTIONS = {
  'grpc.keepalive_time_ms': 10000,
  'grpc.keepalive_timeout_ms': 5000,
  'grpc.keepalive_permit_without_calls': 1,
  'grpc.max_receive_message_length': 4 * 1024 * 1024,
  'grpc.max_send_message_length': 4 * 1024 * 1024,
  'grpc.enable_retries': 0,
};

// TLS and tokens (docs/protocol.md, "Connecting with TLS and a token"):
// --tls-ca PEM (env KEEL_TLS_CA) turns TLS on, trusting that CA; --tls-cert and
// --tls-key (KEEL_TLS_CERT, KEEL_TLS_KEY) add a client certificate for mutual
// TLS; --token (KEEL_TOKEN) is sent on every call as "authorization: Bearer".
// The token goes in an interceptor rather than call credentials so that it
// also works over plaintext on loopback.
function security(opts = {}) {
  const pick = (flag, env) => (typeof opts[flag] === 'string' ? opts[flag] : process.env[env] || '');
  const [ca, cert, key, token] = [
    pick('tls-ca', 'KEEL_TLS_CA'), pick('tls-cert', 'KEEL_TLS_CERT'),
    pick('tls-key', 'KEEL_TLS_KEY'), pick('token', 'KEEL_TOKEN')];
  const read = (file) => (file ? fs.readFileSync(file) : null);
  const credentials = ca || cert
    ? grpc.credentials.createSsl(read(ca), read(key), read(cert))
    : grpc.credentials.createInsecure();
  const interceptors = token ? [(options, nextCall) => new grpc.InterceptingCall(nextCall(options), {
    start(metadata, listener, next) {
      metadata.set('authorization', `Bearer ${token}`);
      next(metadata, listener);
    },
  })] : [];
  return { credentials, options: { ...CHANNEL_OPTIONS, interceptors } };
}

function clientService(address, opts) {
  const { credentials, options } = security(opts);
  return new keel.ClientService(address, credentials, options);
}
function workerService(address, opts) {
  const { credentials, options } = security(opts);
  return new keel.WorkerService(address, credentials, options);
}

// --coordinator takes one address or a comma-separated list ("a:1,b:2"): the
// current one is used until it proves unreachable (UNAVAILABLE, or a worker's
// stream ends), then the next one, as the Python SDK does.
function endpoints(list, make, opts) {
  const addresses = String(list).split(',').map((a) => a.trim()).filter(Boolean);
  const stubs = new Map();
  let current = 0;
  return {
    addresses,
    get address() { return addresses[current]; },
    get stub() {
      if (!stubs.has(current)) stubs.set(current, make(addresses[current], opts));
      return stubs.get(current);
    },
    // `stub` failed: move on, unless another call moved on already.
    failed(stub) {
      if (stub === stubs.get(current)) current = (current + 1) % addresses.length;
    },
    close() { for (const stub of stubs.values()) stub.close(); },
  };
}

// grpc.status is {OK: 0, CANCELLED: 1, ...}; we want names for messages.
const CODE_NAMES = Object.fromEntries(Object.entries(grpc.status).map(([k, v]) => [v, k]));
const codeName = (err) => CODE_NAMES[err && err.code] || 'UNKNOWN';

// A unary call as a promise, with a deadline (every call needs one).
function unary(client, method, request, timeoutMs = 30000) {
  return new Promise((resolve, reject) => {
    client[method](request, { deadline: Date.now() + timeoutMs }, (err, response) =>
      (err ? reject(err) : resolve(response)));
  });
}

// Payloads carry their encoding: "json" (UTF-8 JSON; "" means json too) or
// "binary" (opaque bytes).
function encode(value) {
  if (Buffer.isBuffer(value)) return { encoding: 'binary', data: value };
  const text = JSON.stringify(value === undefined ? null : value);
  return { encoding: 'json', data: Buffer.from(text, 'utf8') };
}

function decode(payload) {
  if (!payload) return null;
  if (payload.encoding === 'binary') return payload.data;
  if (payload.encoding !== '' && payload.encoding !== 'json') {
    throw new Error(`unknown payload encoding ${JSON.stringify(payload.encoding)}`);
  }
  return payload.data.length ? JSON.parse(payload.data.toString('utf8')) : null;
}

// Workflow and step inputs are {"args": [...], "kwargs": {...}}.
const encodeArgs = (args = [], kwargs = {}) => encode({ args, kwargs });
function decodeArgs(payload) {
  const doc = decode(payload) || {};
  return { args: doc.args || [], kwargs: doc.kwargs || {} };
}

// google.protobuf.Duration / Timestamp: {seconds: "<int64 as string>", nanos}.
const durationMs = (d) => (d ? Number(d.seconds) * 1000 + Math.round(d.nanos / 1e6) : 0);
const duration = (ms) => ({ seconds: String(Math.floor(ms / 1000)), nanos: (ms % 1000) * 1e6 });
function timestampNow() {
  const ms = Date.now();
  return { seconds: String(Math.floor(ms / 1000)), nanos: (ms % 1000) * 1e6 };
}

// --name value / --flag options and positional arguments.
function parseArgs(argv) {
  const opts = {};
  const positional = [];
  for (let i = 0; i < argv.length; i++) {
    if (argv[i].startsWith('--')) {
      const key = argv[i].slice(2);
      const next = argv[i + 1];
      opts[key] = next === undefined || next.startsWith('--') ? true : argv[++i];
    } else {
      positional.push(argv[i]);
    }
  }
  return { opts, positional };
}

module.exports = {
  grpc, keel, CHANNEL_OPTIONS, clientService, workerService, endpoints, codeName, unary,
  encode, decode, encodeArgs, decodeArgs, durationMs, duration, timestampNow, parseArgs,
};
