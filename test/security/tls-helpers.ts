import { readFileSync } from "node:fs";
import { connect } from "node:tls";
import { fileURLToPath } from "node:url";
import * as grpc from "@grpc/grpc-js";
import { scoreServiceDefinition } from "../../src/api/server.js";
import type { ScoreRequestMessage, ScoreResponseMessage } from "../../src/codec/index.js";
import { doc } from "../helpers/grpc-client.js";

/** The test-only keys and certificates of test/fixtures/tls (README there). */
export function fixturePath(name: string): string {
  return fileURLToPath(new URL(`../fixtures/tls/${name}`, import.meta.url));
}

export function fixture(name: string): Buffer {
  return readFileSync(fixturePath(name));
}

export interface ClientTls {
  /** Root CA file name in the fixtures; default "ca.crt". */
  readonly ca?: string;
  /** Client certificate: "client" or "rogue-client" (its .crt and .key). */
  readonly identity?: string;
}

/** A grpc-js client over TLS, trusting the fixture CA (or `ca`) and presenting `identity` if given. */
export function tlsClient(target: string, tls: ClientTls = {}): grpc.Client {
  const id = tls.identity;
  const credentials = grpc.credentials.createSsl(
    fixture(tls.ca ?? "ca.crt"),
    id === undefined ? null : fixture(`${id}.key`),
    id === undefined ? null : fixture(`${id}.crt`),
  );
  return new grpc.Client(target, credentials);
}

export function plaintextClient(target: string): grpc.Client {
  return new grpc.Client(target, grpc.credentials.createInsecure());
}

export type Outcome =
  | { readonly ok: true; readonly response: ScoreResponseMessage }
  | { readonly ok: false; readonly code: grpc.status; readonly details: string };

/** One Score call with a small valid request; never rejects. */
export function score(client: grpc.Client, deadlineMs = 5_000): Promise<Outcome> {
  const method = scoreServiceDefinition.Score!;
  const request: ScoreRequestMessage = {
    requestId: "",
    query: { text: "chocolate chip cookies", locale: "" },
    documents: [doc("d1"), doc("d2")],
    routingKey: "",
    experiment: "",
    priority: 0,
    modelPreference: 0,
  };
  return new Promise((resolve) => {
    client.makeUnaryRequest(
      method.path,
      method.requestSerialize,
      method.responseDeserialize,
      request,
      new grpc.Metadata(),
      { deadline: Date.now() + deadlineMs },
      (err, response) => {
        if (err) resolve({ ok: false, code: err.code, details: err.details });
        else resolve({ ok: true, response: response as ScoreResponseMessage });
      },
    );
  });
}

/** The serial number of the certificate a fresh TLS connection to 127.0.0.1:port is served. */
export function servedSerial(port: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect(
      { host: "127.0.0.1", port, ca: fixture("ca.crt"), servername: "localhost", ALPNProtocols: ["h2"] },
      () => {
        const serial = socket.getPeerCertificate().serialNumber;
        socket.destroy();
        resolve(serial);
      },
    );
    socket.once("error", reject);
  });
}

/** Polls `check` every `intervalMs` until it returns true or `timeoutMs` passes; returns the last result. */
export async function eventually(
  check: () => Promise<boolean>,
  timeoutMs: number,
  intervalMs = 100,
): Promise<boolean> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    if (await check()) return true;
    if (Date.now() > until) return false;
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}
