import * as grpc from "@grpc/grpc-js";

/** A pre-encoded request body and the number of documents (items) it carries. */
export interface Payload {
  readonly body: Buffer;
  readonly items: number;
}

/**
 * A unary gRPC caller that sends pre-encoded bodies and hands back the raw
 * answer: the load generator spends no CPU on protobuf, so what it measures
 * is the server's cost, not its own (on a 2-core machine they share a core).
 */
export interface RawUnaryCaller {
  call(body: Buffer): Promise<Buffer>;
  close(): void;
}

const identity = (b: Buffer): Buffer => b;

export interface RawUnaryCallerOptions {
  readonly target: string;
  /** "/package.Service/Method". */
  readonly path: string;
  /** Per call; default 10 s. */
  readonly deadlineMs?: number | undefined;
  /** Sent with every call (`authorization: Bearer …` attributes the calls to a client). */
  readonly metadata?: Readonly<Record<string, string>> | undefined;
}

export function createRawUnaryCaller(opts: RawUnaryCallerOptions): RawUnaryCaller {
  const client = new grpc.Client(opts.target, grpc.credentials.createInsecure(), {
    "grpc.max_receive_message_length": 64 * 1024 * 1024,
    "grpc.max_send_message_length": 64 * 1024 * 1024,
  });
  const deadlineMs = opts.deadlineMs ?? 10_000;
  const headers = Object.entries(opts.metadata ?? {});
  const metadata = () => {
    const m = new grpc.Metadata();
    for (const [k, v] of headers) m.set(k, v);
    return m;
  };
  return {
    call(body) {
      return new Promise<Buffer>((resolve, reject) => {
        client.makeUnaryRequest(
          opts.path,
          identity,
          identity,
          body,
          metadata(),
          { deadline: Date.now() + deadlineMs },
          (err, answer) => (err || !answer ? reject(err ?? new Error("no answer")) : resolve(answer)),
        );
      });
    },
    close: () => client.close(),
  };
}

/** Waits until the channel is connected (the first calls of a run should not pay for the TCP handshake). */
export function waitForChannel(target: string, timeoutMs: number): Promise<void> {
  const client = new grpc.Client(target, grpc.credentials.createInsecure());
  return new Promise<void>((resolve, reject) =>
    client.waitForReady(Date.now() + timeoutMs, (err) => {
      client.close();
      if (err) reject(err);
      else resolve();
    }),
  );
}

/** A gRPC failure as its status name ("UNAVAILABLE"), anything else by its message. */
export function grpcErrorName(err: unknown): string {
  const code = (err as { code?: unknown } | null)?.code;
  if (typeof code === "number" && grpc.status[code] !== undefined) return grpc.status[code];
  return err instanceof Error ? err.message : String(err);
}
