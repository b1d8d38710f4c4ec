/**
 * The progress of one server operation as JupyterHub's progress API reports it: a replayable list of
 * events that late subscribers catch up on, ending with a `ready` or `failed` event.
 */
export interface ProgressEvent {
  progress: number;
  message: string;
  html_message?: string;
  ready?: boolean;
  failed?: boolean;
  url?: string;
  /** For failures: the last lines of the server's log, to tell the person why. */
  detail?: string;
}

export class ProgressLog {
  readonly events: ProgressEvent[] = [];
  private readonly listeners = new Set<(event: ProgressEvent) => void>();
  private last = 0;
  finished = false;

  push(event: ProgressEvent): void {
    if (this.finished) return;
    // progress never goes backwards, whatever order backends report in
    const progress = Math.max(this.last, Math.min(100, Math.round(event.progress)));
    this.last = progress;
    const stored = { ...event, progress };
    this.events.push(stored);
    if (event.ready || event.failed) this.finished = true;
    for (const listener of this.listeners) listener(stored);
    if (this.finished) this.listeners.clear();
  }

  /** Replays past events, then calls `listener` for each new one until the log finishes. Returns an unsubscribe function. */
  subscribe(listener: (event: ProgressEvent) => void): () => void {
    for (const event of this.events) listener(event);
    if (this.finished) return () => undefined;
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }
}
