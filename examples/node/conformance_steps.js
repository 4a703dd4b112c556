'use strict';
// The steps of docs/conformance.md in JavaScript, for the conformance kit:
//   node worker.js --coordinator HOST:PORT --steps conformance_steps.js
const fs = require('fs');
const path = require('path');

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

class ConformanceError extends Error {
  constructor(message) {
    super(message);
    this.name = 'ConformanceError'; // the error's type on the wire
  }
}

module.exports = {
  conf_echo(...args) {
    return args;
  },
  conf_bytes(n) {
    return Buffer.from(Array.from({ length: n }, (_, i) => i % 256));
  },
  conf_fail(message) {
    throw new ConformanceError(message);
  },
  conf_big(n) {
    return 'x'.repeat(n);
  },
  // Appends this process's pid to marks/<label>; sleeps only on the label's first run.
  async conf_mark(label, seconds) {
    const dir = path.join(process.env.KEEL_CONFORMANCE_DIR || '.', 'marks');
    fs.mkdirSync(dir, { recursive: true });
    const file = path.join(dir, label);
    const first = !fs.existsSync(file);
    fs.appendFileSync(file, `${process.pid}\n`);
    if (first) await sleep(seconds * 1000);
    return { label, pid: process.pid };
  },
};
