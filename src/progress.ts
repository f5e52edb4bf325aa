/**
 * How long work reports progress without knowing who watches: the CLI passes a factory
 * that draws a bar on stderr, an API caller its own, or nothing.
 */
export interface ProgressSink {
  /** `done` of the total so far; `extra` is shown beside the bar; `total` when the work learns its size late. */
  update(done: number, extra?: string, total?: number): void;
  stop(): void;
}

/** Starts a sink for one piece of work of `total` units. */
export type Progress = (label: string, total: number) => ProgressSink;

/** Progress that nobody watches. */
export const silentProgress: Progress = () => ({ update() {}, stop() {} });
