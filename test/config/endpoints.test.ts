import t from "tap";
import { checkTritonEndpoint, checkVllmEndpoint } from "../../src/config/endpoints.js";

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

t.test("vLLM endpoints", async (t) => {
  for (const ok of [
    "http://127.0.0.1:8000",
    "https://vllm.example.com",
    "http://vllm:8000/teacher/",
    "http://[::1]:8000",
    "dns+http://vllm.ml.svc.cluster.local:8000",
    "dns+https://vllm.example.com",
    "dns+http://vllm:8000/teacher/",
  ]) {
    t.equal(checkVllmEndpoint(ok), undefined, ok);
  }
  const bad: [string, string][] = [
    ["127.0.0.1:8000", '"127.0.0.1:8000" must be an http:// or https:// URL'],
    ["vllm:8000", '"vllm:8000" must be an http:// or https:// URL'],
    ["grpc://vllm:8000", '"grpc://vllm:8000" must be an http:// or https:// URL'],
    ["http://user:secret@vllm:8000", '"http://user:secret@vllm:8000" must not contain credentials'],
    ["http://vllm:8000/?model=x", '"http://vllm:8000/?model=x" must not have a query or fragment'],
    ["http://vllm:0", '"http://vllm:0": port must be between 1 and 65535'],
    ["http://vllm:70000", '"http://vllm:70000" must be an http:// or https:// URL'],
    ["dns+ftp://vllm:8000", '"dns+ftp://vllm:8000" must be an http:// or https:// URL'],
    ["dns://vllm:8000", '"dns://vllm:8000" must be an http:// or https:// URL'],
    [
      "dns+http://vllm:70000",
      '"dns+http://vllm:70000" must be dns+http:// or dns+https:// followed by host:port',
    ],
    ["dns+http://u:p@vllm:8000", '"dns+http://u:p@vllm:8000" must not contain credentials'],
    ["dns+https://vllm:0", '"dns+https://vllm:0": port must be between 1 and 65535'],
  ];
  for (const [endpoint, message] of bad) t.equal(checkVllmEndpoint(endpoint), message, endpoint);
});
