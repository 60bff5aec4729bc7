import { createRequire } from "node:module";
import t from "tap";
import { validateConfig } from "../../src/config/index.js";
import { isTracingSdkLoaded } from "../../src/tracing/sdk-state.js";
import { doc } from "../helpers/grpc-client.js";
import { useGateway } from "../helpers/use-gateway.js";
import { startOtlpReceiver } from "./otlp-receiver.js";
import { clientSpan, scoreWithMetadata } from "./trace-helpers.js";

// Each tap test file runs in its own process: nothing here may load the SDK.

t.test("tracing is off by default", async (t) => {
  const cfg = validateConfig({
    backends: { student: { kind: "triton", endpoints: ["127.0.0.1:8001"], model: "m" } },
  });
  t.equal(cfg.tracing.enabled, false);
});

t.test("tracing off: contexts pass through unchanged, no SDK is loaded, nothing is exported", async (t) => {
  const receiver = await startOtlpReceiver(t);
  const { client, sim, teacherSim, gateway } = await useGateway(t, {
    teacher: {},
    config: {
      routing: { default: "student", experiments: [{ name: "teacher-eval", backend: "teacher" }] },
      // An endpoint is configured, but tracing is not enabled.
      tracing: { enabled: false, otlpEndpoint: receiver.url, exportIntervalMs: 20 },
    },
  });
  const documents = [doc("a"), doc("b")];

  const toTriton = clientSpan();
  const a = await scoreWithMetadata(
    client.client,
    { documents },
    { traceparent: toTriton.traceparent, tracestate: "vendor=1,other=2" },
  );
  t.ok(a.ok, "the student answered");
  t.same(
    sim.receivedTraces(),
    [{ traceparent: toTriton.traceparent, tracestate: "vendor=1,other=2", id: "" }],
    "Triton got the client's traceparent and tracestate, as sent",
  );

  const toVllm = clientSpan(false);
  const b = await scoreWithMetadata(
    client.client,
    { documents, experiment: "teacher-eval" },
    { traceparent: toVllm.traceparent },
  );
  t.ok(b.ok && b.response.model?.backend === "teacher", "the teacher answered");
  t.match(teacherSim!.receivedTraces(), [{ traceparent: toVllm.traceparent, tracestate: undefined }]);

  t.ok((await scoreWithMetadata(client.client, { documents }, {})).ok, "no context: answered");
  const invalid = { traceparent: "00-00000000000000000000000000000000-00f067aa0ba902b7-01" };
  t.ok((await scoreWithMetadata(client.client, { documents }, invalid)).ok, "invalid context: answered");
  t.equal(sim.receivedTraces().length, 1, "no context, or an invalid one, sends none on");

  await gateway.shutdown();
  t.equal(receiver.contentTypes.length, 0, "nothing was exported");
  t.equal(isTracingSdkLoaded(), false, "the tracing SDK module was never loaded");
  // prom-client requires @opentelemetry/api (for exemplars) whatever the config; the SDK is what must stay out.
  const sdk = Object.keys(createRequire(import.meta.url).cache).filter(
    (k) => k.includes("@opentelemetry") && !k.includes("@opentelemetry/api/"),
  );
  t.same(sdk, [], "no OpenTelemetry SDK, exporter or propagator package is in the module cache");
});
