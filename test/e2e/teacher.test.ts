import * as grpc from "@grpc/grpc-js";
import t, { type Test } from "tap";
import { startServeProcess } from "../helpers/cli.js";
import { expectedTeacherProbabilities } from "../helpers/expected-scores.js";
import { doc, ScoreClient } from "../helpers/grpc-client.js";
import { useGateway } from "../helpers/use-gateway.js";

const query = { text: "chocolate chip cookies", locale: "en" };
const documents = [
  doc("a", {
    title: "Best chocolate chip cookies",
    boardTitles: ["Baking"],
    engagedQueries: ["cookie recipe"],
  }),
  doc("b", { title: "東京の桜", imageCaption: "cherry blossoms 🌸" }),
  doc("c", { title: "Garden furniture ideas", linkText: "patio" }),
];

function closeTo(t: Test, actual: ArrayLike<number>, expected: number[], tolerance: number, what: string) {
  const diffs = Array.from(actual, (p, k) => Math.abs(p - expected[k]!));
  t.ok(
    diffs.length === 5 && Math.max(...diffs) <= tolerance,
    `${what} (max diff ${Math.max(...diffs).toExponential(1)})`,
  );
}

t.test("a named experiment is answered by the teacher, with its own scores and route", async (t) => {
  const { client } = await useGateway(t, {
    teacher: {},
    config: { routing: { default: "student", experiments: [{ name: "teacher-eval", backend: "teacher" }] } },
  });
  const out = await client.score({ query, documents, experiment: "teacher-eval" });
  t.ok(out.ok, "OK");
  if (!out.ok) return;
  t.equal(out.response.route, "experiment:teacher-eval");
  t.same(out.response.model, { role: 2, name: "relevance-teacher", version: "", backend: "teacher" });
  // The loop below asserts nothing on an empty answer: the documents come back first, in order.
  t.same(
    out.response.scores.map((s) => s.documentId),
    documents.map((d) => d.id),
    "one score per document, in request order",
  );
  for (const [i, s] of out.response.scores.entries()) {
    t.equal(s.documentId, documents[i]!.id);
    closeTo(
      t,
      s.probabilities,
      expectedTeacherProbabilities(query.text, documents[i]!),
      1e-6,
      `teacher scores of ${s.documentId}`,
    );
  }
});

t.test("forced teacher: honoured where allowed (route forced), PERMISSION_DENIED where not", async (t) => {
  const allowed = await useGateway(t, { teacher: {} });
  const ok = await allowed.client.score({ query, documents, modelPreference: 2 });
  t.ok(
    ok.ok && ok.response.route === "forced" && ok.response.model?.backend === "teacher",
    "forced → teacher",
  );

  const denied = await useGateway(t, {
    teacher: {},
    config: { routing: { default: "student", allowForcedTeacher: false } },
  });
  const out = await denied.client.score({ query, documents, modelPreference: 2 });
  t.equal(out.ok ? grpc.status.OK : out.code, grpc.status.PERMISSION_DENIED);
  t.match(!out.ok && out.details, /^model_preference: forcing the teacher is not permitted/);
});

t.test(
  "classify and generate modes give the same probabilities; generate matches choices by index",
  async (t) => {
    const classify = await useGateway(t, { teacher: { mode: "classify" } });
    const generate = await useGateway(t, { teacher: { mode: "generate", sim: { shuffleChoices: true } } });
    const many = Array.from({ length: 40 }, (_, i) =>
      doc(`d${i}`, { title: `cookies ${i}`, description: i % 2 ? "chocolate" : "garden chairs" }),
    );
    const a = await classify.client.score({ query, documents: many, modelPreference: 2 });
    const b = await generate.client.score({ query, documents: many, modelPreference: 2 });
    t.ok(a.ok && b.ok, "both answered");
    if (!a.ok || !b.ok) return;
    for (let i = 0; i < many.length; i++) {
      const sa = a.response.scores[i]!;
      const sb = b.response.scores[i]!;
      t.equal(sb.documentId, many[i]!.id);
      t.equal(sa.label, sb.label, `same label for ${sa.documentId}`);
      closeTo(
        t,
        sb.probabilities,
        Array.from(sa.probabilities),
        1e-4,
        `same probabilities for ${sa.documentId}`,
      );
      closeTo(
        t,
        sb.probabilities,
        expectedTeacherProbabilities(query.text, many[i]!),
        1e-4,
        "and the simulator's",
      );
    }
  },
);

t.test(
  "with the teacher stopped: canary falls back to the student; experiments get UNAVAILABLE",
  async (t) => {
    const { client, teacherSim } = await useGateway(t, {
      teacher: {},
      config: {
        routing: {
          default: "student",
          canary: { backend: "teacher", percent: 100 },
          experiments: [{ name: "teacher-eval", backend: "teacher" }],
        },
      },
    });
    const before = await client.score({ query, documents, routingKey: "user-1" });
    t.ok(before.ok && before.response.route === "canary", "canary answered by the teacher while it is up");
    await teacherSim!.stop();
    // The very next requests may race the readiness probe; both paths must fall back.
    const during = await client.score({ query, documents, routingKey: "user-1" });
    t.ok(during.ok, "no client error right after the teacher stopped");
    t.equal(during.ok && during.response.route, "fallback");
    for (let i = 0; i < 20; i++) {
      const out = await client.score({ query, documents, routingKey: `user-${i}` });
      t.ok(
        out.ok && out.response.route === "fallback" && out.response.model?.backend === "student",
        `user-${i}: fallback`,
      );
    }
    const exp = await client.score({ query, documents, experiment: "teacher-eval" });
    t.equal(exp.ok ? grpc.status.OK : exp.code, grpc.status.UNAVAILABLE);
    t.match(!exp.ok && exp.details, /teacher/, "the message names the teacher");
  },
);

t.test(
  "canary at 10% over 10,000 keys: 10% ± 1%, sticky, and the same in a second gateway process",
  async (t) => {
    const routing = { default: "student", canary: { backend: "teacher", percent: 10 } };
    const { client, sim, teacherSim } = await useGateway(t, {
      teacher: {},
      batching: { maxQueueItems: 100_000 },
      config: { routing },
    });
    const other = await startGatewayProcess(t, sim.address, teacherSim!.url, routing);
    const otherClient = new ScoreClient(other);
    t.teardown(() => otherClient.close());

    const keys = Array.from({ length: 10_000 }, (_, i) => `user-${i}-${(i * 7919) % 10007}`);
    const routesOf = async (c: ScoreClient) => {
      const routes = new Array<string>(keys.length);
      let next = 0;
      await Promise.all(
        Array.from({ length: 64 }, async () => {
          while (next < keys.length) {
            const i = next++;
            const out = await c.score(
              { query, documents: [documents[0]!], routingKey: keys[i]! },
              { deadlineMs: 30_000 },
            );
            routes[i] = out.ok ? out.response.route : `error ${out.code}`;
          }
        }),
      );
      return routes;
    };
    const first = await routesOf(client);
    const share = first.filter((r) => r === "canary").length / keys.length;
    t.ok(Math.abs(share - 0.1) <= 0.01, `teacher answered ${(share * 100).toFixed(2)}% of keys`);
    t.same(
      first.filter((r) => r !== "canary" && r !== "bulk"),
      [],
      "every request answered by the student or the teacher",
    );
    const again = await routesOf(client);
    t.equal(again.filter((r, i) => r !== first[i]).length, 0, "repeating the keys gives the same assignment");
    const fromOther = await routesOf(otherClient);
    t.equal(
      fromOther.filter((r, i) => r !== first[i]).length,
      0,
      "the second gateway process agrees on every key",
    );
  },
);

/** A second gateway as its own process (`relevance-gateway serve`), in front of the same simulators. */
async function startGatewayProcess(t: Test, triton: string, vllm: string, routing: object): Promise<string> {
  const { child, target, exited } = await startServeProcess({
    server: { grpc: { host: "127.0.0.1", port: 0 }, admin: { host: "127.0.0.1", port: 0 } },
    backends: {
      student: {
        kind: "triton",
        endpoints: [triton],
        model: "relevance_student",
        batching: { maxQueueItems: 100_000 },
      },
      teacher: { kind: "vllm", endpoints: [vllm], model: "relevance-teacher" },
    },
    routing,
  });
  t.teardown(async () => {
    child.kill("SIGTERM");
    await exited;
  });
  return target;
}
