#!/usr/bin/env node
// Writes man/pigeon.1 and man/pigeon-COMMAND.1 from the commands' flag tables
// (dist/cmd/usage.js, the same source as -h). Run by `npm run build` after tsc;
// spec/man.test.ts checks that the committed pages are what this writes.
import { mkdirSync, readdirSync, unlinkSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const { manPages } = await import(path.join(root, 'dist/cmd/usage.js'));
const { pigeonVersion } = await import(path.join(root, 'dist/src/version.js'));
const dir = path.join(root, 'man');
mkdirSync(dir, { recursive: true });
const pages = await manPages(pigeonVersion());
for (const name of readdirSync(dir)) if (name.endsWith('.1') && !pages.has(name)) unlinkSync(path.join(dir, name));
for (const [name, text] of pages) writeFileSync(path.join(dir, name), text);
