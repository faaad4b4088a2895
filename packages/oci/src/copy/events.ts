/** What a copy reports while it runs, for progress bars and JSON logs. */
export type CopyEvent =
  | { type: 'plan'; digest: string; mediaType: string; platforms: string[]; blobs: number; bytes: number }
  | { type: 'blob'; digest: string; size: number; action: 'copied' | 'skipped' | 'mounted' }
  | { type: 'bytes'; count: number }
  | { type: 'manifest'; digest: string; mediaType: string; reference: string; action: 'copied' | 'skipped' }
  | { type: 'referrer'; digest: string; artifactType?: string; tag?: string }
  | { type: 'retry'; what: string; attempt: number; delayMs: number; message: string }
  | { type: 'warning'; message: string };

export type CopyEventListener = (event: CopyEvent) => void;
