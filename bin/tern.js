#!/usr/bin/env node
// Entry point for `npx tern`: the compiled CLI lives in dist/ (built by `npm install` via the prepare script).
import { main } from '../dist/src/cli/main.js';
main(process.argv).catch((err) => {
  process.stderr.write(`tern: ${err && err.message ? err.message : err}\n`);
  process.exit(1);
});
