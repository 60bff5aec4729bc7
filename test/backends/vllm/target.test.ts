import t from "tap";
import { checkVllmEndpoint } from "../../../src/backends/vllm/target.js";

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
