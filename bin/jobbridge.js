#!/usr/bin/env node
// The `jobbridge` command. Plain JavaScript that any Node.js parses, so that an unsupported
// Node gets a one-line refusal instead of a syntax error or silence; the supported version
// is package.json's `engines.node`. From a checkout it runs src/cli.ts (the source, on Node's
// type stripping); from an installed package, the compiled dist/src/cli.js.
/* global process, URL */
import { existsSync, readFileSync } from 'node:fs';

const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8'));
const needed = Number(/\d+/.exec(pkg.engines.node)[0]);
const found = process.versions.node;
if (Number(found.split('.')[0]) < needed) {
  process.stderr.write(
    `jobbridge: this is Node.js ${found}; jobbridge needs Node.js ${needed} or later. ` +
      `Run it through npm (npm start, npm test, npx jobbridge …), which uses the Node.js ${needed} ` +
      `that npm ci puts in node_modules/.bin, or install Node.js ${needed} from https://nodejs.org.\n`,
  );
  process.exit(1);
}
const source = new URL('../src/cli.ts', import.meta.url);
const cli = await import(
  existsSync(source) ? source : new URL('../dist/src/cli.js', import.meta.url)
);
process.exitCode = await cli.main(process.argv);
