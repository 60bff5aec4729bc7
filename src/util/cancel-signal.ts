/**
 * The part of `AbortSignal` the request path uses. `AbortSignal` satisfies
 * it (tests and library callers pass one); the gRPC server passes a
 * `CallCancellation`, which costs less per call.
 */
export interface CancelSignal {
  readonly aborted: boolean;
  addEventListener(type: "abort", listener: () => void, options?: { readonly once?: boolean }): void;
  removeEventListener(type: "abort", listener: () => void): void;
}

/**
 * A one-shot cancellation for one gRPC call. An `AbortController` per call
 * builds an EventTarget and its signal, and dispatches a DOM event when
 * aborted: a visible share of the CPU at low load, for a call that is almost
 * never cancelled. This keeps a plain list of listeners instead, each called
 * at most once (as with `{ once: true }`).
 */
export class CallCancellation implements CancelSignal {
  #aborted = false;
  #listeners: (() => void)[] | undefined;

  get aborted(): boolean {
    return this.#aborted;
  }

  addEventListener(_type: "abort", listener: () => void): void {
    if (this.#aborted) return;
    if (this.#listeners === undefined) this.#listeners = [listener];
    else this.#listeners.push(listener);
  }

  removeEventListener(_type: "abort", listener: () => void): void {
    const listeners = this.#listeners;
    if (listeners === undefined) return;
    const i = listeners.indexOf(listener);
    if (i !== -1) listeners.splice(i, 1);
  }

  /** Marks the call cancelled and runs each listener once; later calls do nothing. */
  abort(): void {
    if (this.#aborted) return;
    this.#aborted = true;
    const listeners = this.#listeners;
    this.#listeners = undefined;
    if (listeners !== undefined) for (const listener of listeners) listener();
  }
}
