'use strict';
// Sends requests the coordinator must refuse and prints the status code each
// got, one JSON line per call: {"call", "expected", "code", "details"}.
// Exit 0 if every call got the documented code, 1 otherwise.
//
//   node badinput.js --coordinator HOST:PORT
const crypto = require('crypto');
const lib = require('./lib');

const { opts } = lib.parseArgs(process.argv.slice(2));
if (!opts.coordinator) {
  console.error('usage: node badinput.js --coordinator HOST:PORT');
  process.exit(2);
}
const client = lib.clientService(opts.coordinator);
const unknown = `no-such-workflow-${crypto.randomUUID()}`;
const json = (text) => ({ encoding: 'json', data: Buffer.from(text, 'utf8') });

const CASES = [
  ['GetWorkflow', { workflow_id: unknown }, 'NOT_FOUND'],
  ['AwaitWorkflow', { workflow_id: unknown, timeout: lib.duration(1000) }, 'NOT_FOUND'],
  ['ListSteps', { workflow_id: unknown }, 'NOT_FOUND'],
  ['Send', { workflow_id: unknown, topic: 't', message: lib.encode(1) }, 'NOT_FOUND'],
  // A payload that says "json" but is not JSON.
  ['StartWorkflow', { name: 'polyglot_order', input: json('{not json') }, 'INVALID_ARGUMENT'],
  // JSON, but not the {"args": [...], "kwargs": {...}} an input must be.
  ['StartWorkflow', { name: 'polyglot_order', input: json('[1, 2]') }, 'INVALID_ARGUMENT'],
  ['StartWorkflow', { name: 'polyglot_order', input: { encoding: 'yaml', data: Buffer.from('a: 1') } },
    'INVALID_ARGUMENT'],
  ['StartWorkflow', { name: 'not a name!', input: lib.encodeArgs([]) }, 'INVALID_ARGUMENT'],
];

async function main() {
  let ok = true;
  for (const [call, request, expected] of CASES) {
    let code = 'OK';
    let details = '';
    try {
      await lib.unary(client, call, request, 10000);
    } catch (err) {
      code = lib.codeName(err);
      details = err.details;
    }
    ok = ok && code === expected;
    process.stdout.write(`${JSON.stringify({ call, expected, code, details })}\n`);
  }
  return ok ? 0 : 1;
}

main().then((code) => process.exit(code), (e) => {
  console.error(e);
  process.exit(2);
});
