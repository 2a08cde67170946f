#!/usr/bin/env node
// npm run fuzz -- TARGET|all [--runs N | --seconds S] [--seed N]   (--list names the targets)
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const res = spawnSync(process.execPath, ['--import', 'tsx', join(root, 'test/fuzz/run.ts'), ...process.argv.slice(2)], { stdio: 'inherit', cwd: root });
process.exit(res.status ?? 1);
