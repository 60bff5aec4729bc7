// The test client's own contract: a call never waits longer than its deadline, and a call that sets
// none gets a default one, so that a lost answer fails the test in seconds instead of at tap's 300 s
// timeout. Checked against a real grpc-js server (the gateway's service definition) whose handler
// never answers.
import * as grpc from "@grpc/grpc-js";
import t, { type Test } from "tap";
import { scoreServiceDefinition } from "../../src/api/server.js";
import { doc, ScoreClient } from "./grpc-client.js";

/** A RelevanceService that never answers; reports each call's deadline as the client sent it. */
async function silentServer(t: Test): Promise<{ target: string; deadlines: Promise<grpc.Deadline>[] }> {
  const server = new grpc.Server();
  const deadlines: Promise<grpc.Deadline>[] = [];
  let report: (d: grpc.Deadline) => void = () => {};
  const next = () => {
    deadlines.push(new Promise((resolve) => (report = resolve)));
  };
  next();
  server.addService(scoreServiceDefinition, {
    Score: (call: grpc.ServerUnaryCall<unknown, unknown>) => {
      report(call.getDeadline());
      next();
    },
  });
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync("127.0.0.1:0", grpc.ServerCredentials.createInsecure(), (err, p) =>
      err ? reject(err) : resolve(p),
    ),
  );
  t.teardown(() => server.forceShutdown());
  return { target: `127.0.0.1:${port}`, deadlines };
}

const request = { query: { text: "q", locale: "" }, documents: [doc("d1")] };

t.test("a call without deadlineMs carries the default deadline", async (t) => {
  const { target, deadlines } = await silentServer(t);
  const client = new ScoreClient(target);
  t.teardown(() => client.close());
  const sentAt = Date.now();
  void client.score(request);
  const deadline = await deadlines[0]!;
  const ms = (deadline instanceof Date ? deadline.getTime() : deadline) - sentAt;
  t.ok(Number.isFinite(ms), `the server sees a deadline (${String(deadline)})`);
  // The documented default, 15 s, with a margin for a loaded machine.
  t.ok(ms > 15_000 - 2_000 && ms <= 15_000 + 1_000, `it is about 15 s away (${ms} ms)`);
});

t.test("a lost answer fails with DEADLINE_EXCEEDED at the client's default deadline", async (t) => {
  const { target } = await silentServer(t);
  const client = new ScoreClient(target, { defaultDeadlineMs: 300 });
  t.teardown(() => client.close());
  const out = await client.score(request);
  t.equal(out.ok, false, "no answer");
  t.equal(out.ok ? undefined : out.code, grpc.status.DEADLINE_EXCEEDED, "DEADLINE_EXCEEDED");
  t.ok(out.elapsedMs >= 250 && out.elapsedMs < 10_000, `after about 300 ms (${out.elapsedMs.toFixed(0)} ms)`);
});

t.test("an explicit deadlineMs wins over the default", async (t) => {
  const { target, deadlines } = await silentServer(t);
  const client = new ScoreClient(target, { defaultDeadlineMs: 300 });
  t.teardown(() => client.close());
  const sentAt = Date.now();
  // Not awaited: the server's shutdown at teardown ends the call.
  void client.score(request, { deadlineMs: 60_000 });
  const deadline = await deadlines[0]!;
  const ms = (deadline instanceof Date ? deadline.getTime() : deadline) - sentAt;
  t.ok(ms > 50_000 && ms <= 61_000, `the server sees the call's own deadline (${ms} ms)`);
});
