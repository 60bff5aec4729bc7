/**
 * A gateway whose Triton does not serve the configured model: /readyz and the
 * metrics name the cause Triton's ModelConfig gives, not just "not ready".
 */
import t from "tap";
import { useGateway } from "../../helpers/use-gateway.js";

t.test("gateway: a model the server does not serve is named in /readyz and the metrics", async (t) => {
  const stack = await useGateway(t, { sim: { models: [{ name: "other_model" }] } });
  const address = stack.sim.address;
  const res = await fetch(`${stack.adminUrl}/readyz`);
  t.equal(res.status, 503);
  const body = (await res.json()) as { ready: boolean; reasons: string[] };
  t.equal(body.ready, false);
  t.same(body.reasons, [
    `default backend student has no ready endpoint (${address} not-ready: model 'relevance_student' ` +
      `not found on ${address}: Request for unknown model: 'relevance_student' is not found)`,
  ]);
  const metrics = await stack.metricsText();
  t.match(metrics, `relevance_gateway_endpoint_ready{backend="student",endpoint="${address}"} 0`);
  t.match(
    metrics,
    `relevance_gateway_endpoint_not_ready{backend="student",endpoint="${address}",cause="model_not_found"} 1`,
  );
});

t.test("gateway: the cause series goes away when the endpoint becomes ready", async (t) => {
  const stack = await useGateway(t, {
    sim: { strictReadiness: false },
    student: { readiness: { intervalMs: 200, timeoutMs: 200 } },
  });
  const address = stack.sim.address;
  const series = `relevance_gateway_endpoint_not_ready{backend="student",endpoint="${address}",cause=`;
  t.notMatch(await stack.metricsText(), series, "no cause while ready");
  stack.sim.setModelReady("relevance_student", false);
  let text = "";
  for (let i = 0; i < 200 && !text.includes(`${series}"model_unavailable"} 1`); i++) {
    await new Promise((resolve) => setTimeout(resolve, 50));
    text = await stack.metricsText();
  }
  t.match(text, `${series}"model_unavailable"} 1`, "the loading model is named");
  stack.sim.setModelReady("relevance_student", true);
  for (let i = 0; i < 200 && !text.includes(`endpoint="${address}"} 1`); i++) {
    await new Promise((resolve) => setTimeout(resolve, 50));
    text = await stack.metricsText();
  }
  t.match(text, `relevance_gateway_endpoint_ready{backend="student",endpoint="${address}"} 1`);
  t.notMatch(text, series, "the cause series is removed once ready");
});
