/** Everything written to stdout and stderr while `fn` runs (Powertools logs and metrics go there). */
export async function captureOutput<T>(
  fn: () => Promise<T> | T,
): Promise<{ output: string; result?: T; error?: unknown }> {
  const chunks: string[] = [];
  const capture = (chunk: unknown): boolean => {
    chunks.push(String(chunk));
    return true;
  };
  const out = jest.spyOn(process.stdout, 'write').mockImplementation(capture);
  const err = jest.spyOn(process.stderr, 'write').mockImplementation(capture);
  try {
    const result = await fn();
    return { output: chunks.join(''), result };
  } catch (error) {
    return { output: chunks.join(''), error };
  } finally {
    out.mockRestore();
    err.mockRestore();
  }
}

/** The JSON lines of captured output. */
export function jsonLines(output: string): Array<Record<string, unknown>> {
  return output
    .split('\n')
    .filter((line) => line.trim().startsWith('{'))
    .map((line) => JSON.parse(line) as Record<string, unknown>);
}

interface EmfLine {
  _aws: { CloudWatchMetrics: Array<{ Namespace: string; Dimensions: string[][]; Metrics: Array<{ Name: string }> }> };
  [key: string]: unknown;
}

/** Embedded-metric lines that carry metric `name`. */
export function metricLines(output: string, name: string): EmfLine[] {
  return jsonLines(output).filter((line): line is EmfLine => {
    const aws = (line as Partial<EmfLine>)._aws;
    return aws !== undefined && aws.CloudWatchMetrics.some((m) => m.Metrics.some((metric) => metric.Name === name));
  });
}
