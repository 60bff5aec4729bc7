import t from "tap";
import {
  areaOf,
  type CpuProfile,
  formatProfileSummary,
  summariseProfile,
} from "../../../src/tools/bench/cpuprofile.js";

const frame = (functionName: string, url = "", lineNumber = 0) => ({ functionName, url, lineNumber });

t.test("areas: GC, idle, packages, node internals and the gateway's folders", (t) => {
  t.equal(areaOf(frame("(garbage collector)")), "garbage collection");
  t.equal(areaOf(frame("(idle)")), "idle");
  t.equal(areaOf(frame("(program)")), "V8 / native");
  t.equal(
    areaOf(frame("x", "file:///app/node_modules/@grpc/grpc-js/build/src/server.js")),
    "grpc-js + HTTP/2",
  );
  t.equal(areaOf(frame("x", "node:internal/http2/core")), "grpc-js + HTTP/2");
  t.equal(areaOf(frame("x", "file:///app/node_modules/prom-client/lib/counter.js")), "prom-client");
  t.equal(areaOf(frame("x", "node:internal/streams/writable")), "node: streams");
  t.equal(areaOf(frame("x", "node:buffer")), "node: buffer");
  t.equal(areaOf(frame("x", "node:internal/modules/esm/loader")), "module loading (start-up)");
  t.equal(areaOf(frame("x", "file:///app/dist/codec/wire.js")), "gateway: codec");
  t.equal(areaOf(frame("x", "file:///app/dist/pipeline.js")), "gateway: pipeline");
  t.end();
});

t.test("self time per function and area; total time for the gateway's own functions", (t) => {
  // root → score (pipeline) → decode (codec); root → (garbage collector); root → (idle)
  const profile: CpuProfile = {
    nodes: [
      { id: 1, callFrame: frame("(root)"), children: [2, 4, 5] },
      { id: 2, callFrame: frame("score", "file:///app/dist/pipeline.js", 27), children: [3] },
      { id: 3, callFrame: frame("decode", "file:///app/dist/codec/wire.js", 9) },
      { id: 4, callFrame: frame("(garbage collector)") },
      { id: 5, callFrame: frame("(idle)") },
    ],
    // Each sample lasts until the next: 100 µs apiece here.
    samples: [3, 3, 2, 4, 5, 5, 5, 3],
    timeDeltas: [0, 100, 100, 100, 100, 100, 100, 100],
  };
  const s = summariseProfile(profile);
  t.equal(s.sampledMs, 0.8);
  t.equal(s.busyMs, 0.5, "idle left out");
  t.same(
    s.areas.map((a) => [a.area, a.share]),
    [
      ["gateway: codec", 0.6],
      ["gateway: pipeline", 0.2],
      ["garbage collection", 0.2],
    ],
  );
  t.same(s.functions[0], { name: "decode codec/wire.js:10", area: "gateway: codec", ms: 0.3, share: 0.6 });
  t.same(
    s.gatewayTotals.map((f) => [f.name, f.share]),
    [
      ["score pipeline.js:28", 0.8],
      ["decode codec/wire.js:10", 0.6],
    ],
  );
  const text = formatProfileSummary("p.cpuprofile", s);
  t.match(text, /p\.cpuprofile: 0\.0 s sampled, busy 62\.5% of it/);
  t.match(text, /60\.0%\s+gateway: codec/);
  t.end();
});
