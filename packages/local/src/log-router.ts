import { closeSync, openSync, writeSync } from 'node:fs';

/**
 * The components' logs in one file, as CloudWatch Logs would hold them: the
 * handlers in this process write Powertools JSON lines (logs and embedded
 * metrics) to stdout and stderr; while the router is installed those lines
 * go to the file instead, and anything else (the demo's own output, a test
 * runner's) passes through. The worker builds' output is added with
 * `write`.
 */
export interface LogRouter {
  readonly path: string;
  /** Appends one component's line (or lines). */
  write(text: string): void;
  /** Puts stdout and stderr back and closes the file. */
  close(): void;
}

type WriteFunction = typeof process.stdout.write;

/** Whether a chunk written to stdout or stderr is a component's JSON log line. */
export function isComponentLogLine(text: string): boolean {
  // Powertools log lines begin with "level", embedded-metric lines with "_aws".
  return /^\{"(?:level|_aws)":/.test(text);
}

export function routeComponentLogs(path: string): LogRouter {
  const fd = openSync(path, 'a', 0o600);
  let open = true;
  const append = (text: string): void => {
    if (!open || text === '') return;
    writeSync(fd, text.endsWith('\n') ? text : `${text}\n`);
  };
  const patch = (stream: NodeJS.WriteStream): (() => void) => {
    const original = stream.write;
    const replacement = function (this: NodeJS.WriteStream, chunk: unknown, ...rest: unknown[]): boolean {
      const text = typeof chunk === 'string' ? chunk : Buffer.isBuffer(chunk) ? chunk.toString('utf8') : undefined;
      if (open && text !== undefined && isComponentLogLine(text)) {
        append(text);
        const callback = rest.find((r): r is () => void => typeof r === 'function');
        if (callback) process.nextTick(callback);
        return true;
      }
      return (original as (...args: unknown[]) => boolean).call(this, chunk, ...rest);
    } as WriteFunction;
    stream.write = replacement;
    return () => {
      if (stream.write === replacement) stream.write = original;
    };
  };
  const restoreOut = patch(process.stdout);
  const restoreErr = patch(process.stderr);
  return {
    path,
    write: append,
    close() {
      if (!open) return;
      restoreOut();
      restoreErr();
      open = false;
      closeSync(fd);
    },
  };
}
