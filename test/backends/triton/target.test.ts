import t from "tap";
import { checkTritonEndpoint } from "../../../src/backends/triton/target.js";

t.test("Triton endpoints", async (t) => {
  for (const ok of [
    "127.0.0.1:8001",
    "triton:8001",
    "triton-0.triton.ml.svc.cluster.local:8001",
    "dns:///triton.ml.svc.cluster.local:8001",
    "[::1]:8001",
    "[fe80::1%eth0]:8001",
    "dns:///[2001:db8::1]:65535",
  ]) {
    t.equal(checkTritonEndpoint(ok), undefined, ok);
  }
  const bad: [string, string][] = [
    ["127.0.0.1", '"127.0.0.1" must be host:port or dns:///host:port'],
    ["", '"" must be host:port or dns:///host:port'],
    [":8001", '":8001" must be host:port or dns:///host:port'],
    ["http://triton:8001", '"http://triton:8001" must be host:port or dns:///host:port'],
    ["dns://triton:8001", '"dns://triton:8001" must be host:port or dns:///host:port'],
    ["::1:8001", '"::1:8001": IPv6 addresses must be in brackets, e.g. [::1]:8001'],
    ["[nope]:8001", '"[nope]:8001": "nope" is not an IPv6 address'],
    ["[::1]8001", '"[::1]8001" must be host:port or dns:///host:port'],
    ["triton:0", '"triton:0": port must be between 1 and 65535'],
    ["triton:65536", '"triton:65536": port must be between 1 and 65535'],
    ["triton:grpc", '"triton:grpc": port must be a number between 1 and 65535'],
    ["tri ton:8001", '"tri ton:8001" must be host:port or dns:///host:port'],
  ];
  for (const [endpoint, message] of bad) t.equal(checkTritonEndpoint(endpoint), message, endpoint);
});
