/** Where a log line goes when nobody passed a logger: stderr in Node, the console in a browser. */
const stderr = (globalThis as { process?: { stderr?: { write(s: string): unknown } } }).process?.stderr;

export const hostLog: (line: string) => void = stderr ? (line) => void stderr.write(line + '\n') : (line) => console.warn(line);
