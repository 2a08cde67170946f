// Whether the compiled tree in dist/ (npm run build) is newer than every
// source file. bin/tsvmm runs dist/ only then (an edited tree never runs a
// stale build), and the benchmarks measure it only then (bench/dist.mjs).
const { readFileSync, readdirSync, statSync } = require('node:fs');
const { join } = require('node:path');

function builtAt(root) {
  try {
    return Number(readFileSync(join(root, 'dist', '.stamp'), 'utf8'));
  } catch {
    return 0;
  }
}

function newestSource(dir) {
  let t = 0;
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    // Not path.join: its normalising, still unoptimised at this point of a start, was a third
    // of this walk's ~3 ms (the CLI runs it on every start).
    const p = `${dir}/${e.name}`;
    t = Math.max(t, e.isDirectory() ? newestSource(p) : statSync(p).mtimeMs);
  }
  return t;
}

/** `root`: the checkout (the folder holding src/ and dist/). */
function distIsCurrent(root) {
  const stamp = builtAt(root);
  return stamp > 0 && newestSource(join(root, 'src')) < stamp;
}

module.exports = { distIsCurrent };
