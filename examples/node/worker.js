'use strict';
// A keel worker in JavaScript that serves steps (no workflows): workflows in
// any language call them by name and the coordinator dispatches them here.
//
//   node worker.js --coordinator HOST:PORT [--worker-id ID] [--step-slots N] [--grace SECONDS]
//       [--tls-ca PEM [--tls-cert PEM --tls-key PEM]] [--token SECRET] [--steps MODULE]
//
// --steps MODULE adds the steps a module exports (e.g. conformance_steps.js,
// the steps of docs/conformance.md).
//
// Protocol (protos/keel/v1/worker_service.proto): open the Connect stream,
// send Register first, Heartbeat at the interval from Registered, run each
// StepAssignment and report it with RecordStep. If the stream ends or fails
// (the coordinator restarts), reconnect with jittered exponential backoff.
const fs = require('fs');
const os = require('os');
const path = require('path');
const lib = require('./lib');
const { version } = require('./package.json');

const { opts } = lib.parseArgs(process.argv.slice(2));
if (!opts.coordinator) {
  console.error('usage: node worker.js --coordinator HOST:PORT[,HOST:PORT...] [--worker-id ID] [--step-slots N] [--grace S] '
    + '[--tls-ca PEM [--tls-cert PEM --tls-key PEM]] [--token SECRET]');
  process.exit(2);
}
const coordinators = lib.endpoints(opts.coordinator, lib.workerService, opts);
const workerId = opts['worker-id'] || `${os.hostname()}-${process.pid}-node`;
const stepSlots = Number(opts['step-slots'] || 4);
const graceMs = Number(opts.grace || 5) * 1000;
const log = (msg) => console.error(`${new Date().toISOString()} node worker ${workerId} ${msg}`);

// -- the steps: plain (async) functions of the step's positional args --------

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
const testDir = () => process.env.KEEL_TEST_DIR || os.tmpdir();

const STEPS = {
  js_price(item, qty) {
    return { item, qty, total: qty * 250, by: 'node', pid: process.pid };
  },
  // Leaves a trace "<pid> <time>" in runs/<label>, then waits for gates/<label>.
  async js_slow(label) {
    fs.mkdirSync(path.join(testDir(), 'runs'), { recursive: true });
    fs.appendFileSync(path.join(testDir(), 'runs', label), `${process.pid} ${(Date.now() / 1000).toFixed(3)}\n`);
    const gate = path.join(testDir(), 'gates', label);
    for (const until = Date.now() + 60000; !fs.existsSync(gate);) {
      if (Date.now() > until) throw new Error(`gate ${label} never opened`);
      await sleep(20);
    }
    return { label, pid: process.pid };
  },
  js_fail(message) {
    throw new TypeError(message);
  },
};
if (opts.steps) Object.assign(STEPS, require(path.resolve(opts.steps)));

// -- the stream ----------------------------------------------------------

let stream = null; // the current Connect call
let seq = 0; // WorkerMessage.seq: 1, 2, ... on each stream
let stopping = false;
const running = new Set(); // promises of the steps in flight

// Every message of a stream carries the next seq (the coordinator skips seqs
// it has already seen on that stream).
function send(body) {
  if (!stream) return;
  seq += 1;
  stream.write({ seq: String(seq), ...body });
}

// One Connect stream, from Register to its end; resolves with whether it got
// Registered and the error that ended it, if any.
function session() {
  return new Promise((resolve) => {
    let registered = false;
    let heartbeat = null;
    const stub = coordinators.stub;
    const address = coordinators.address;
    const call = stub.Connect();
    stream = call;
    seq = 0;
    send({ register: {
      worker_id: workerId,
      workflows: [],
      steps: Object.keys(STEPS),
      workflow_slots: 0, // serves no workflows
      step_slots: stepSlots, // the coordinator never assigns more at once
      sdk: `node/${version}`,
    } });
    call.on('data', (msg) => {
      switch (msg.body) { // the oneof's case name (oneofs: true)
        case 'registered': {
          registered = true;
          const every = lib.durationMs(msg.registered.heartbeat_interval) || 1000;
          heartbeat = setInterval(() => send({ heartbeat: {} }), every);
          log(`connected to ${address} (${msg.registered.coordinator_id}), heartbeat every ${every} ms`);
          if (stopping) send({ drain: {} });
          break;
        }
        case 'run_step':
          runStep(msg.run_step);
          break;
        case 'run_workflow': // never sent: we register no workflows
          log(`ignoring workflow assignment ${msg.run_workflow.workflow_id}: no workflows served here`);
          break;
        case 'revoke': // a workflow ended: its steps running here will be refused
          log(`workflow ${msg.revoke.workflow_id} revoked (${msg.revoke.reason}): outcomes of its steps will be refused`);
          break;
        default:
          log(`ignoring unknown message ${JSON.stringify(msg.body)}`);
      }
    });
    let ended = false;
    const end = (err) => {
      if (ended) return;
      ended = true;
      clearInterval(heartbeat);
      if (stream === call) stream = null;
      try { call.end(); } catch (e) { /* already closed */ }
      resolve({ registered, err, stub, address });
    };
    call.on('end', () => end(null)); // the coordinator closed the stream
    call.on('error', end); // the coordinator is gone, or refused us
  });
}

async function serve() {
  let delay = 100;
  let outage = false;
  while (!stopping) {
    const { registered, err, stub, address } = await session();
    if (stopping) break;
    coordinators.failed(stub); // reconnect to the next coordinator of the list
    if (registered) {
      delay = 100;
      outage = false;
    }
    if (!outage) { // one line per outage, not one per retry
      outage = true;
      const why = err ? `${lib.codeName(err)}: ${err.details}` : 'stream ended';
      log(`lost the coordinator at ${address} (${why}); reconnecting with backoff`);
    }
    // Full jitter between delay/2 and delay, doubling from 100 ms to 5 s.
    await sleep(delay / 2 + Math.random() * (delay / 2));
    delay = Math.min(5000, delay * 2);
  }
}

// -- assigned steps --------------------------------------------------------

function runStep(a) {
  const p = runAndRecord(a).catch((e) => log(`bug: ${e.stack}`));
  running.add(p);
  p.finally(() => running.delete(p));
}

async function runAndRecord(a) {
  const where = `workflow ${a.workflow_id} step ${a.step_number} (${a.name}) epoch ${a.epoch} attempt ${a.attempt}`;
  const startedAt = lib.timestampNow();
  let outcome;
  try {
    const fn = STEPS[a.name];
    if (!fn) throw new ReferenceError(`step ${a.name} is not registered here`);
    const { args, kwargs } = lib.decodeArgs(a.input);
    // JavaScript has no keyword arguments: kwargs, if any, come last as an object.
    const value = await fn(...args, ...(Object.keys(kwargs).length ? [kwargs] : []));
    outcome = { output: lib.encode(value) }; // throws on values JSON cannot carry
  } catch (e) {
    const err = e instanceof Error ? e : new Error(String(e));
    outcome = { error: { type: err.name, message: err.message, details: String(err.stack || '') } };
  }
  // Report under the assignment's epoch and attempt. First committed outcome
  // wins; retry only while the coordinator is unreachable.
  const request = {
    workflow_id: a.workflow_id, epoch: a.epoch, step_number: a.step_number, name: a.name,
    attempt: a.attempt, started_at: startedAt, ...outcome,
  };
  for (let delay = 50, until = Date.now() + 60000; ; delay = Math.min(2000, delay * 2)) {
    const stub = coordinators.stub;
    try {
      await lib.unary(stub, 'RecordStep', request, 10000);
      log(`${where}: ${request.output ? 'recorded' : `recorded error ${request.error.type}`}`);
      return;
    } catch (err) {
      const { RESOURCE_EXHAUSTED, INVALID_ARGUMENT } = lib.grpc.status;
      if (request.output && (err.code === RESOURCE_EXHAUSTED || err.code === INVALID_ARGUMENT)) {
        // The output cannot be stored (too large, say): record why instead, so
        // the workflow sees an error rather than waiting for the attempt's timeout.
        delete request.output;
        request.error = { type: 'OutputRejected', message: err.details, details: '' };
        continue;
      }
      if (err.code === lib.grpc.status.FAILED_PRECONDITION) {
        // This attempt was fenced off (handed to another worker, or the
        // workflow moved on): the outcome is dropped.
        log(`${where}: outcome dropped, attempt was fenced off: ${err.details}`);
        return;
      }
      if (err.code !== lib.grpc.status.UNAVAILABLE || Date.now() > until) {
        log(`${where}: outcome not recorded: ${lib.codeName(err)}: ${err.details}`);
        return;
      }
      coordinators.failed(stub); // the retry goes to the next coordinator
      await sleep(delay / 2 + Math.random() * (delay / 2));
    }
  }
}

// -- shutdown --------------------------------------------------------------

async function shutdown(signal) {
  if (stopping) return;
  stopping = true;
  log(`${signal}: draining, waiting up to ${graceMs} ms for ${running.size} running steps`);
  send({ drain: {} }); // no new assignments
  const until = Date.now() + graceMs;
  while (running.size && Date.now() < until) await Promise.race([...running, sleep(100)]);
  if (running.size) log(`stopping with ${running.size} steps unfinished; they will be handed to other workers`);
  if (stream) stream.end();
  coordinators.close();
  process.exit(0);
}
process.on('SIGTERM', () => shutdown('SIGTERM'));
process.on('SIGINT', () => shutdown('SIGINT'));

log(`serving steps ${Object.keys(STEPS).join(', ')} (${stepSlots} slots) to ${coordinators.addresses.join(', ')}`);
serve();
