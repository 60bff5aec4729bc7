import { Worker } from "node:worker_threads";
import type { ClosedLoadJob, ClosedLoadResult, FromLoadWorker, LoadJob, OpenLoadJob } from "./load-jobs.js";
import type { StreamResult, StreamsLoadJob } from "./load-streams.js";
import { siblingModule } from "./module-url.js";
import type { OpenLoopPhaseResult } from "./open-loop.js";

/** What a run reports while it goes; `phase` also marks when the measured window opens and closes. */
export interface LoadObserver {
  onPhase?(name: string, measured: boolean): void;
  onTick?(tick: Extract<FromLoadWorker, { kind: "tick" }>["tick"]): void;
  /** The first answer's body. */
  onSample?(body: Uint8Array): void;
}

/** The bench's side of the load worker (load-worker.ts): one job at a time. */
export class LoadRunner implements AsyncDisposable {
  readonly #worker = new Worker(siblingModule(import.meta.url, "./load-worker.js"));
  #busy = false;

  open(job: OpenLoadJob, observer: LoadObserver = {}): Promise<readonly OpenLoopPhaseResult[]> {
    return this.#run(job, observer, (m) => (m.kind === "open-done" ? m.phases : undefined));
  }

  closed(job: ClosedLoadJob, observer: LoadObserver = {}): Promise<ClosedLoadResult> {
    return this.#run(job, observer, (m) => (m.kind === "closed-done" ? m.result : undefined));
  }

  /** Every stream at once, each attributed to its client. */
  streams(job: StreamsLoadJob, observer: LoadObserver = {}): Promise<readonly StreamResult[]> {
    return this.#run(job, observer, (m) => (m.kind === "streams-done" ? m.streams : undefined));
  }

  #run<T>(job: LoadJob, observer: LoadObserver, done: (m: FromLoadWorker) => T | undefined): Promise<T> {
    if (this.#busy) return Promise.reject(new Error("the load worker runs one job at a time"));
    this.#busy = true;
    const worker = this.#worker;
    return new Promise<T>((resolve, reject) => {
      const finish = () => {
        this.#busy = false;
        worker.off("message", onMessage);
        worker.off("error", onError);
        worker.off("exit", onExit);
      };
      const onError = (err: Error) => {
        finish();
        reject(err);
      };
      const onExit = (code: number) => onError(new Error(`the load worker exited with ${code}`));
      const onMessage = (m: FromLoadWorker) => {
        switch (m.kind) {
          case "phase":
            observer.onPhase?.(m.name, m.measured);
            return;
          case "tick":
            observer.onTick?.(m.tick);
            return;
          case "sample":
            observer.onSample?.(m.body);
            return;
          case "failed":
            return onError(new Error(`load worker: ${m.message}`));
          default: {
            const value = done(m);
            if (value === undefined) return;
            finish();
            resolve(value);
          }
        }
      };
      worker.on("message", onMessage);
      worker.on("error", onError);
      worker.on("exit", onExit);
      worker.postMessage(job);
    });
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.#worker.terminate();
  }
}
