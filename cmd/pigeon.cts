#!/usr/bin/env node
/**
 * The CLI's CommonJS entry, which the `pigeon` executable (bin/pigeon.cjs,
 * package.json "bin") requires: the CLI (cmd/main.ts) from
 * the bundle under its V8 code cache when that is built and fresh
 * (src/codecache.cts), else as ES modules. CommonJS, as is the bundle: an
 * ES-module entry costs Node's ESM loader some 20M instructions more.
 */
import { runBundled } from '../src/codecache.cjs';

const args = process.argv.slice(2);
void runBundled(__dirname, args, () => import('./main.js').then((m) => m.main(args)));
