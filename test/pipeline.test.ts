import { status } from "@grpc/grpc-js";
import t from "tap";
import { DeferredScoreRequest, encodeScoreRequest, type ScoreRequestMessage } from "../src/codec/index.js";
import { createModelText, defaultModelTextOptions } from "../src/model-text/index.js";
import { silentLogger } from "../src/observability/logger.js";
import { createMetrics } from "../src/observability/metrics.js";
import { securityMetrics } from "../src/observability/security-metrics.js";
import { createPipeline } from "../src/pipeline.js";
import { createRouter } from "../src/routing/router.js";
import { AuthenticatedClient } from "../src/security/client-policy.js";
import { CallCancellation } from "../src/util/cancel-signal.js";
import { opts, setup, track } from "./helpers/batcher-harness.js";
import { settle } from "./helpers/fake-clock.js";
import { doc } from "./helpers/grpc-client.js";
import { heapAfterGc } from "./helpers/heap.js";
import { docs } from "./helpers/manual-endpoint.js";

const request = (n: number): ScoreRequestMessage => ({
  requestId: "big",
  query: { text: "cookies", locale: "" },
  documents: Array.from({ length: n }, (_, i) => doc(`d${i}`)),
  routingKey: "",
  experiment: "",
  priority: 1,
  modelPreference: 0,
  cachePolicy: 0,
});

/** The student's queue holds 8 items at most; 8 are queued behind a batch in flight. */
async function fullQueue() {
  const s = setup({ maxQueueDelayMs: 0, maxBatchSize: 4, maxQueueItems: 8 });
  track(s.batcher.submit("q", docs("flight", 0, 4), { ...opts, requestId: "flight" }));
  track(s.batcher.submit("q", docs("queued", 0, 8), { ...opts, requestId: "queued" }));
  await settle();
  return s;
}

/** A pipeline in front of the harness's batcher that counts the document model texts it builds. */
function pipelineFor(s: ReturnType<typeof setup>) {
  const modelText = createModelText(defaultModelTextOptions);
  const built = { texts: 0 };
  const metrics = createMetrics({ collectDefault: false });
  const pipeline = createPipeline({
    limits: { maxDocumentsPerRequest: 1000, maxFieldBytes: 4096, maxRequestTextBytes: 1 << 20 },
    modelText: {
      query: (text) => modelText.query(text),
      document: (doc) => {
        built.texts++;
        return modelText.document(doc);
      },
    },
    router: createRouter({
      defaultBackend: "student",
      experiments: [],
      allowForcedTeacher: false,
      roles: new Map([["student", "student"]]),
    }),
    scorers: new Map([["student", s.batcher]]),
    roles: new Map([["student", "student"]]),
    isAvailable: () => true,
    clock: s.clock,
    metrics,
    logger: silentLogger(),
    newRequestId: () => "generated",
  });
  const client = new AuthenticatedClient(
    "anonymous",
    { mayForceTeacher: true, experiments: ["*"], maxDocumentsPerRequest: null, rateLimit: null },
    { clock: s.clock, metrics: securityMetrics(metrics.registry) },
  );
  const ctx = { signal: new CallCancellation(), deadlineMs: undefined, client };
  return { pipeline, built, ctx };
}

const failure = (p: Promise<unknown>) =>
  p.then(
    () => undefined,
    (err: unknown) => err as { code: number; reason: string; message: string },
  );

t.test("a request refused for load is refused before its documents' model texts are built", async (t) => {
  const s = await fullQueue();
  t.equal(s.batcher.queuedItems, 8);
  const { pipeline, built, ctx } = pipelineFor(s);

  const refused = await failure(pipeline.score(request(100), ctx));
  t.equal(refused?.code, status.RESOURCE_EXHAUSTED);
  t.equal(refused?.reason, "BATCH_QUEUE_FULL");
  t.same(s.rec.rejected, ["queue_full"], "counted once");
  t.equal(built.texts, 0, "no document's model text was built");

  // One that is admitted has its texts built (and waits in the queue).
  s.batcher.reconfigure({ ...s.batcher.limits, maxQueueItems: 1000 });
  const admitted = track(pipeline.score(request(3), ctx));
  await settle();
  t.equal(s.batcher.queuedItems, 11, "admitted: its 3 items queued");
  t.equal(built.texts, 3, "its 3 texts built");
  t.equal(admitted.settled, 0);
});

t.test("a request read off the wire and refused for load never has its documents decoded", async (t) => {
  const s = await fullQueue();
  const { pipeline, ctx } = pipelineFor(s);
  // 100 good documents and one whose region holds field number 0: it fails only when decoded.
  const body = Buffer.concat([encodeScoreRequest(request(100)), Buffer.from([0x1a, 0x01, 0x00])]);

  const refused = await failure(pipeline.score(new DeferredScoreRequest(body), ctx));
  t.equal(refused?.code, status.RESOURCE_EXHAUSTED, "refused for load, the bad document never read");
  t.same(s.rec.rejected, ["queue_full"]);

  // With room in the queue its documents are decoded, and the bad one is the client's error.
  s.batcher.reconfigure({ ...s.batcher.limits, maxQueueItems: 1000 });
  const invalid = await failure(pipeline.score(new DeferredScoreRequest(body), ctx));
  t.equal(invalid?.code, status.INVALID_ARGUMENT);
  t.match(invalid?.message, /^request: not a valid relevance\.v1\.ScoreRequest \(field number 0\)/);
  t.equal(s.batcher.queuedItems, 8, "nothing of it queued");
});

t.test("a request waiting in the queue holds its documents' ids and texts, not the documents", async (t) => {
  // 50 requests read off the wire, 80 documents each (just under the 1 MiB text limit), whose
  // title, description and board title are about 3,900 bytes apiece: 47 MB of document text once decoded. The model texts cap
  // those fields at 256, 1,024 and 384 bytes: under 7 MB for the 4,000 documents.
  const s = setup({ maxQueueDelayMs: 0, maxBatchSize: 4, maxQueueItems: 10_000 });
  track(s.batcher.submit("q", docs("flight", 0, 4), { ...opts, requestId: "flight" }));
  await settle();
  const { pipeline, ctx } = pipelineFor(s);
  const field = (r: number, i: number, what: string) => `${what} ${r}.${i} ${"x".repeat(3_880)}`;
  const bodies = Array.from({ length: 50 }, (_, r) =>
    encodeScoreRequest({
      ...request(0),
      requestId: `r${r}`,
      documents: Array.from({ length: 80 }, (_, i) =>
        doc(`d${i}`, {
          title: field(r, i, "title"),
          description: field(r, i, "description"),
          boardTitles: [field(r, i, "board")],
        }),
      ),
    }),
  );

  const before = heapAfterGc();
  const waiting = bodies.map((body) => track(pipeline.score(new DeferredScoreRequest(body), ctx)));
  await settle();
  const grownBytes = heapAfterGc() - before;
  t.equal(s.batcher.queuedItems, 4_000, "every document queued");
  t.equal(waiting.filter((w) => w.settled > 0).length, 0, "none answered yet");
  t.ok(grownBytes < 16_000_000, `50 waiting requests hold ${grownBytes} bytes`);
});
