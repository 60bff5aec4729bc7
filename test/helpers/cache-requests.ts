import type { Test } from "tap";
import type { DocumentMessage, ScoreResponseMessage } from "../../src/codec/index.js";
import { expectedProbabilities } from "./expected-scores.js";
import { doc, type ScoreClient, type ScoreOutcome } from "./grpc-client.js";

/** Requests and checks shared by the score cache's end-to-end tests. */
export const QUERY = { text: "chocolate chip cookies", locale: "en" };
export const POLICY = { use: 0, bypass: 1, refresh: 2 } as const;

/** Bit patterns of float32 values: equal only when the floats are identical, -0 and all. */
export const bits = (values: ArrayLike<number>) =>
  Array.from(new Uint32Array(Float32Array.from(values).buffer));

export function docs(prefix: string, n: number): DocumentMessage[] {
  return Array.from({ length: n }, (_, i) =>
    doc(`${prefix}-${i}`, { title: `${prefix} cookie recipe ${i}`, boardTitles: [`board ${i % 3}`] }),
  );
}

export async function score(
  client: ScoreClient,
  documents: DocumentMessage[],
  cachePolicy: number = POLICY.use,
  deadlineMs?: number,
): Promise<ScoreResponseMessage> {
  const out: ScoreOutcome = await client.score(
    { query: QUERY, documents, cachePolicy },
    deadlineMs === undefined ? {} : { deadlineMs },
  );
  if (!out.ok) throw new Error(`${out.code}: ${out.details}`);
  return out.response;
}

/** Every score equals the independently computed one bit for bit, in request order. */
export function checkExact(
  t: Test,
  r: ScoreResponseMessage,
  documents: DocumentMessage[],
  label: string,
): void {
  t.same(
    r.scores.map((s) => s.documentId),
    documents.map((d) => d.id),
    `${label}: request order`,
  );
  const got = r.scores.flatMap((s) => bits(s.probabilities));
  const want = documents.flatMap((d) => bits(expectedProbabilities(QUERY.text, d)));
  t.same(got, want, `${label}: float32 bits equal the simulator's scores`);
}

export const cachedFlags = (r: ScoreResponseMessage) => r.scores.map((s) => s.cached === true);

/** A counter's value in exposition text (0 when absent). */
export function metric(text: string, name: string, labels: string): number {
  const line = text.split("\n").find((l) => l.startsWith(`${name}{${labels}}`));
  return line === undefined ? 0 : Number(line.slice(line.lastIndexOf(" ") + 1));
}
