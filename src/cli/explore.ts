import type { Command } from './command.js';
import { UsageError } from './command.js';

// Placeholder until its issue lands; replaced by the real command.
export const command: Command = {
  name: 'explore',
  summary: '',
  run() {
    throw new UsageError('not built yet', 1);
  },
};
