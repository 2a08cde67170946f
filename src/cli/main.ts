import type { Command, HostHooks } from './command.js';
import { UsageError } from './command.js';

// Each subcommand lives in its own module and is loaded only when used, so
// `tsvmm run` does not pay for the explorer and vice versa.
const commands: Record<string, { summary: string; load: () => Promise<Command> }> = {
  run: { summary: 'run a machine (QEMU-style options)', load: async () => (await import('./run.js')).command },
  mtree: { summary: "print a machine's memory regions like QEMU's `info mtree [-f]`", load: async () => (await import('./mtree.js')).command },
  explore: { summary: 'explore schedules of a concurrency scenario', load: async () => (await import('./explore.js')).command },
};

function usage(): string {
  const lines = ['usage: tsvmm <command> [options]', '', 'commands:'];
  for (const [name, c] of Object.entries(commands)) lines.push(`  ${name.padEnd(10)} ${c.summary}`);
  return lines.join('\n');
}

export async function main(argv: string[], hooks: HostHooks = {}): Promise<number> {
  const [name, ...rest] = argv;
  if (!name || name === '-h' || name === '--help' || name === 'help') {
    console.log(usage());
    return name ? 0 : 2;
  }
  const entry = commands[name];
  if (!entry) {
    console.error(`tsvmm: unknown command '${name}'\n${usage()}`);
    return 2;
  }
  try {
    const cmd = await entry.load();
    return await cmd.run(rest, hooks);
  } catch (e) {
    if (e instanceof UsageError) {
      console.error(`tsvmm ${name}: ${e.message}`);
      return e.exitCode;
    }
    throw e;
  }
}
