'use strict';
// Start a workflow (written in any language), print its events as they are
// set, optionally send it a message, and print its result. One JSON object a
// line on stdout.
//
//   node client.js --coordinator HOST:PORT NAME '[args...]' [--workflow-id ID]
//       [--tls-ca PEM [--tls-cert PEM --tls-key PEM]] [--token SECRET]
//       [--send-topic T --send JSON [--send-after EVENT_KEY]] [--timeout SECONDS]
//       [--queue Q [--priority N] [--deduplication-id D] [--partition-key K]]
//
// With --queue, the workflow is enqueued on that queue (Enqueue) instead of
// started: it waits ENQUEUED until the queue's limits let it start.
//
// Exit 0: the workflow succeeded; 1: it ended ERROR or CANCELLED; 2: an RPC
// failed ({"rpc_error": "NOT_FOUND", "details": ...}) or bad usage.
const lib = require('./lib');

const { opts, positional } = lib.parseArgs(process.argv.slice(2));
const [name, argsJson = '[]'] = positional;
if (!name || !opts.coordinator) {
  console.error('usage: node client.js --coordinator HOST:PORT[,HOST:PORT...] NAME JSON_ARGS [--workflow-id ID] '
    + '[--queue Q [--priority N] [--deduplication-id D] [--partition-key K]] '
    + '[--send-topic T --send JSON [--send-after EVENT_KEY]] [--timeout SECONDS]');
  process.exit(2);
}
const timeoutMs = Number(opts.timeout || 120) * 1000;
const deadline = Date.now() + timeoutMs;
const coordinators = lib.endpoints(opts.coordinator, lib.clientService, opts);
const out = (obj) => process.stdout.write(`${JSON.stringify(obj)}\n`);

class RpcFailure extends Error {
  constructor(call, err) {
    super(`${call}: ${lib.codeName(err)}: ${err.details}`);
    this.call = call;
    this.err = err;
  }
}
// A unary call; UNAVAILABLE is retried on the next coordinator of the list.
async function call(method, request, ms) {
  for (let tries = 1; ; tries++) {
    const stub = coordinators.stub;
    try {
      return await lib.unary(stub, method, request, ms);
    } catch (err) {
      if (err.code !== lib.grpc.status.UNAVAILABLE || tries > 3 * coordinators.addresses.length) {
        throw new RpcFailure(method, err);
      }
      coordinators.failed(stub);
      await new Promise((resolve) => setTimeout(resolve, 50 * tries));
    }
  }
}

// WatchEvents: every event from after_seq on, then each new one as it is set;
// the stream ends once the workflow is final and all its events were sent. On
// UNAVAILABLE (coordinator restarting) resume after the last seq seen.
function watch(workflowId, onEvent) {
  let lastSeq = '0';
  return new Promise((resolve, reject) => {
    const open = (delay) => {
      const stub = coordinators.stub;
      const stream = stub.WatchEvents({ workflow_id: workflowId, after_seq: lastSeq }, { deadline });
      stream.on('data', (event) => {
        lastSeq = event.seq;
        onEvent(event);
      });
      stream.on('end', resolve);
      stream.on('error', (err) => {
        if (err.code === lib.grpc.status.UNAVAILABLE && Date.now() + delay < deadline) {
          coordinators.failed(stub);
          setTimeout(() => open(Math.min(delay * 2, 2000)), delay * (0.5 + Math.random() / 2));
        } else {
          reject(new RpcFailure('WatchEvents', err));
        }
      });
    };
    open(100);
  });
}

async function main() {
  const parsed = JSON.parse(argsJson);
  // A JSON array is the positional args; an object is taken as {args, kwargs}.
  const input = Array.isArray(parsed) ? lib.encodeArgs(parsed) : lib.encodeArgs(parsed.args, parsed.kwargs);
  let started;
  if (opts.queue) {
    started = await call('Enqueue', {
      queue: opts.queue,
      name,
      input,
      workflow_id: opts['workflow-id'] || '',
      priority: Number(opts.priority || 0),
      deduplication_id: opts['deduplication-id'] || '',
      partition_key: opts['partition-key'] || '',
    }, 30000);
    out({ enqueued: started.workflow.workflow_id, created: started.created, queue: started.workflow.queue });
  } else {
    started = await call('StartWorkflow', { name, input, workflow_id: opts['workflow-id'] || '' }, 30000);
    out({ started: started.workflow.workflow_id, created: started.created });
  }
  const workflowId = started.workflow.workflow_id;

  let sendNow = null;
  const sent = new Promise((resolve) => { sendNow = resolve; });
  if (opts.send !== undefined && !opts['send-after']) sendNow();
  const events = watch(workflowId, (event) => {
    out({ event: event.key, value: lib.decode(event.value), seq: Number(event.seq) });
    if (opts['send-after'] && event.key === opts['send-after']) sendNow();
  });
  events.catch(() => {}); // awaited below; do not let an early failure go unhandled
  if (opts.send !== undefined) {
    // Sent only once the awaited event was seen: proves events arrive live.
    await Promise.race([sent, events]);
    await call('Send', {
      workflow_id: workflowId,
      topic: opts['send-topic'] || '',
      message: lib.encode(JSON.parse(opts.send)),
      idempotency_key: `${workflowId}/node-client-send`,
    }, 30000);
    out({ sent: opts['send-topic'] || '' });
  }

  // AwaitWorkflow holds at most 60 s (the coordinator's cap): call again
  // until the workflow is final.
  let info;
  for (;;) {
    const waitMs = Math.max(0, Math.min(30000, deadline - Date.now()));
    info = (await call('AwaitWorkflow',
      { workflow_id: workflowId, timeout: lib.duration(waitMs) }, waitMs + 30000)).workflow;
    if (info.status !== 'WORKFLOW_STATUS_PENDING' && info.status !== 'WORKFLOW_STATUS_ENQUEUED') break;
    if (Date.now() >= deadline) {
      out({ timeout: `workflow ${workflowId} still pending after ${timeoutMs / 1000} s` });
      return 2;
    }
  }
  await events; // ends right after the last event of a final workflow
  if (info.status === 'WORKFLOW_STATUS_SUCCESS') {
    out({ result: lib.decode(info.output) });
    return 0;
  }
  out({ error: { type: info.error.type, message: info.error.message }, status: info.status });
  return 1;
}

// process.exit: stdout to a file or pipe is written synchronously on Linux.
main().then(
  (code) => process.exit(code),
  (e) => {
    if (e instanceof RpcFailure) {
      out({ rpc_error: lib.codeName(e.err), details: e.err.details, call: e.call });
    } else {
      out({ client_error: String(e && e.message) });
    }
    process.exit(2);
  },
);
