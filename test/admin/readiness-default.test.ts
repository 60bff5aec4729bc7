import * as grpc from "@grpc/grpc-js";
import * as protoLoader from "@grpc/proto-loader";
import t, { type Test } from "tap";
import { useGateway } from "../helpers/use-gateway.js";

/**
 * Readiness (`/readyz` and grpc.health.v1) follows the default backend in
 * force: a live change of `routing.default` moves it to the new default.
 */

const TOKEN = "admin-token-for-tests-0123456789";

type HealthClient = grpc.Client & {
  Check: (r: object, opts: object, cb: (e: Error | null, r: { status: string }) => void) => void;
};

async function healthClient(t: Test, target: string): Promise<HealthClient> {
  const pkg = grpc.loadPackageDefinition(
    protoLoader.loadSync((await import("grpc-health-check")).protoPath, { keepCase: true, enums: String }),
  ) as unknown as { grpc: { health: { v1: { Health: grpc.ServiceClientConstructor } } } };
  const client = new pkg.grpc.health.v1.Health(
    target,
    grpc.credentials.createInsecure(),
  ) as unknown as HealthClient;
  t.teardown(() => client.close());
  return client;
}

function health(client: HealthClient, service: string): Promise<string> {
  return new Promise((resolve, reject) =>
    client.Check({ service }, { deadline: Date.now() + 5000 }, (e, r) => (e ? reject(e) : resolve(r.status))),
  );
}

async function readyz(adminUrl: string): Promise<{ status: number; reasons: string[] }> {
  const res = await fetch(`${adminUrl}/readyz`);
  return { status: res.status, reasons: ((await res.json()) as { reasons: string[] }).reasons };
}

async function setDefault(adminUrl: string, backend: string): Promise<number> {
  const res = await fetch(`${adminUrl}/admin/config`, {
    method: "PATCH",
    headers: { authorization: `Bearer ${TOKEN}`, "content-type": "application/merge-patch+json" },
    body: JSON.stringify({ routing: { default: backend } }),
  });
  await res.body?.cancel();
  return res.status;
}

/** Polls until both health services report `want` (the readiness loop runs every second); fails after 10 s. */
async function healthBecomes(t: Test, client: HealthClient, want: string): Promise<void> {
  const deadline = Date.now() + 10_000;
  let seen: string[] = [];
  while (Date.now() < deadline) {
    seen = [await health(client, ""), await health(client, "relevance.v1.RelevanceService")];
    if (seen.every((s) => s === want)) break;
    await new Promise((r) => setTimeout(r, 50));
  }
  t.same(seen, [want, want], `health reports ${want} overall and for RelevanceService`);
}

t.test("a live change of routing.default moves readiness and health to the new default", async (t) => {
  // The teacher's only endpoint is a closed port: it never becomes ready.
  const { adminUrl, target, gateway } = await useGateway(t, {
    adminToken: TOKEN,
    teacher: { backend: { endpoints: ["http://127.0.0.1:1"] } },
  });
  const client = await healthClient(t, target);

  t.equal((await readyz(adminUrl)).status, 200, "ready while the ready student is the default");
  await healthBecomes(t, client, "SERVING");

  t.equal(await setDefault(adminUrl, "teacher"), 200);
  const notReady = await readyz(adminUrl);
  t.equal(notReady.status, 503, "not ready once the unready teacher is the default");
  t.match(notReady.reasons, [/^default backend teacher has no ready endpoint/]);
  t.notOk(gateway.isReady());
  await healthBecomes(t, client, "NOT_SERVING");

  t.equal(await setDefault(adminUrl, "student"), 200);
  t.same(await readyz(adminUrl), { status: 200, reasons: [] }, "ready again with the student as default");
  t.ok(gateway.isReady());
  await healthBecomes(t, client, "SERVING");
});

t.test(
  "starting with an unready default, a live switch to a ready backend makes the gateway ready",
  async (t) => {
    const { adminUrl, target } = await useGateway(t, {
      adminToken: TOKEN,
      teacher: { backend: { endpoints: ["http://127.0.0.1:1"] } },
      config: { routing: { default: "teacher" } },
    });
    const client = await healthClient(t, target);
    t.equal((await readyz(adminUrl)).status, 503, "not ready: the default teacher has no ready endpoint");
    await healthBecomes(t, client, "NOT_SERVING");

    t.equal(await setDefault(adminUrl, "student"), 200);
    t.same(await readyz(adminUrl), { status: 200, reasons: [] });
    await healthBecomes(t, client, "SERVING");
  },
);
