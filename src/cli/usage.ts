export const USAGE = `relevance-gateway — scores query-document relevance on Triton (student) and vLLM (teacher)

Usage:
  relevance-gateway serve --config FILE        run the gateway
  relevance-gateway check-config FILE          validate FILE and print the effective config
  relevance-gateway sim triton [options]       run the Triton (KServe v2 gRPC) simulator
  relevance-gateway sim vllm [options]         run the vLLM (OpenAI-compatible HTTP) simulator
  relevance-gateway score [options]            score documents against a running gateway
  relevance-gateway dev [--config FILE]        simulators + gateway on this machine (npm start)
  relevance-gateway shadow-report FILE…        summarise shadow comparison logs (.jsonl, .jsonl.gz)
  relevance-gateway tune --config FILE [opts]  sweep batch size × delay × concurrency against a backend
  relevance-gateway bench [options]            measure the gateway against its performance goals

sim triton options:
  --host HOST            listen address (default 127.0.0.1)
  --port N               gRPC port (default 8001)
  --metrics-port N       HTTP /metrics port (default 8002; 0 = any free port)
  --model NAME           model name (default relevance_student)
  --max-batch-size N     the model's max_batch_size (default 64)
  --base-ms MS           fixed cost per batch (default 2)
  --per-item-ms MS       cost per item in a batch (default 0.02)
  --instances N          batches executing at once (default 1)
  --tls-client-ca FILE   with TLS: require client certificates signed by this CA (PEM)

sim vllm options:
  --host HOST            listen address (default 127.0.0.1)
  --port N               HTTP port (default 8000)
  --model NAME           served model id (default relevance-teacher)
  --max-model-len N      context length in tokens (default 2048)
  --max-num-seqs N       sequences running at once; the rest wait (default 64)
  --api-key-env NAME     require the API key in env variable NAME on /v1 routes, as vllm --api-key

sim TLS (both simulators; default plaintext):
  --tls-cert FILE        serve TLS with this PEM certificate (chain)
  --tls-key FILE         and this PEM private key

sim fault injection (both simulators; change at run time with GET/PUT/DELETE /sim/faults,
on the metrics port for triton and the HTTP port for vllm; see docs/fault-injection.md):
  --error-rate R         share of scoring calls (0..1) answered with an error
  --added-latency-ms MS  added to every scoring call's latency
  --hang-rate R          share of calls accepted and never answered until faults are cleared
  --malformed-rate R     share of calls answered with a malformed body
  --malformed KIND       triton: missing-output (default), wrong-shape, wrong-datatype, short-raw;
                         vllm: bad-json (default), wrong-shape, missing-items
  --reset-rate R         share of calls whose connection is reset
  --slow-rate R          share of calls delayed by --slow-ms, spread evenly (a gray failure)
  --slow-ms MS           the delay of a --slow-rate call
  --poison-marker TEXT   a call with TEXT in a document fails as the model rejecting that input
                         (triton: INTERNAL from the Python backend; vllm: HTTP 400)
  --fail-all             every scoring call fails as on a sick GPU (triton: INTERNAL; vllm: HTTP 500)
  --fault-seed N         seed of the fault PRNG, for reproducible runs (default 1)

score options:
  --target HOST:PORT     gateway address (default 127.0.0.1:50051)
  --query TEXT           the query (required)
  --doc TEXT             a document given by its title (repeatable)
  --doc-json JSON        a document as JSON with the proto's field names, e.g.
                         '{"id":"p1","title":"…","board_titles":["…"]}' (repeatable)
  --experiment NAME      route to a named experiment
  --teacher              ask for the teacher (model_preference = TEACHER)
  --routing-key KEY      sticky routing key
  --deadline-ms MS       deadline (default 10000)
  --json                 print the response as JSON
  --api-key-env NAME     send the API key in env variable NAME as authorization: Bearer <key>
  --api-key-file FILE    or the key in FILE (one token; surrounding whitespace trimmed). There is
                         no flag for the key itself: it would show in ps and the shell's history
  --tls                  connect with TLS, trusting the system's roots (default plaintext)
  --tls-ca FILE          trust this PEM CA bundle instead (implies --tls)
  --tls-cert FILE        client certificate (PEM) for mutual TLS, with --tls-key (implies --tls)
  --tls-key FILE         its private key (PEM)
  --tls-server-name NAME the name the server certificate must carry, when dialling an address
                         that is not in it (implies --tls)

shadow-report options:
  --out DIR              where to write confusion.svg, expected-relevance.svg and
                         kendall-tau.svg (default ./shadow-report)
  --k N                  cut-off of NDCG@k and top-k overlap, recomputed from the
                         logged probabilities (default 10)
  --worst N              how many largest |ΔER| documents to list (default 20)
  --json                 print the figures as JSON instead of the text report
  --progress             report reading progress on stderr even when it is not a terminal
  Bad lines are reported with FILE:LINE and skipped; the exit code is 1 only when no
  FILE could be read.

tune options (see docs/tuning.md):
  --config FILE          the gateway config; the backend is built from it as the gateway builds it
  --backend NAME         which backends.<NAME> to tune (default routing.default)
  --endpoint ADDR        use this endpoint instead of the configured ones (repeatable)
  --batch-sizes LIST     maxBatchSize values (default 8,16,32,64,128)
  --delays LIST          maxQueueDelayMs values (default 0,2,5)
  --concurrency LIST     requests outstanding at once, closed loop (default 4,16,64)
  --docs N               documents per request (default 8)
  --duration S           measured seconds per point (default 3)
  --warmup S             unmeasured seconds before each point (default 1)
  --p99-target MS        latency objective of the recommendation (default 50)
  --tolerance PCT        throughputs this close to the best count as equal (default 3)
  --out DIR              where tune.csv, tune.svg and tune.json go (default tune-out)
  --wait-ready S         how long to wait for a ready endpoint (default 15)
  Progress goes to stderr; the table and the recommendation to stdout.

bench options (see docs/benchmarks.md; starts its own simulators and gateways):
  --quick                every scenario briefly (about 2 minutes in all)
  --scenario LIST        overhead, batching, cpu-ceiling, shadow, memory (default all; repeatable)
  --out DIR              where bench.json, bench.md and bench.svg go (default .scratch/bench)
  --rounds N             measured rounds per configuration (default 3; quick 1)
  --seconds S            each measured window (default 10; quick 3)
  --warmup S             unmeasured load before each window (default 3; quick 1)
  --soak-seconds S       the memory soak (default 180; quick 20)
  --soak-warmup S        load before the soak (default 20; quick 3)
  --seed N               seed of arrival times and request texts (default 42)
  --profile              run the gateways under node --cpu-prof; summarise into DIR/profiles
  --summarise-profiles D summarise the .cpuprofile files in D and exit
  Progress goes to stderr; the Markdown report and the goals to stdout. Exit code 1
  when a scenario fails to run (a missed goal is reported, not an error).

Exit codes: 0 ok, 1 runtime error, 2 usage or configuration error.
`;
