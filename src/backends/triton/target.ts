/**
 * Triton endpoint strings, read once for both their users: the config's
 * check (what is wrong, in words an operator can act on) and the backend
 * (what to dial). Only the syntax is read: whether anything listens there is
 * the readiness probe's business.
 */
import { isIPv6 } from "node:net";
import type { TargetReading, TargetSpec } from "../discovery.js";
import { formatHostPort } from "../host-port.js";

const DNS_SCHEME = "dns:///";

// A DNS name or an IPv4 address. Underscores are tolerated because some
// service-discovery systems emit them in names.
const HOSTNAME = /^[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,62})(?:\.[A-Za-z0-9_][A-Za-z0-9_-]{0,62})*\.?$/;

/** What is wrong with `port` of `endpoint` (1..65535, digits only), or undefined. */
function checkPort(endpoint: string, port: string): string | undefined {
  if (!/^[0-9]{1,5}$/.test(port)) return `"${endpoint}": port must be a number between 1 and 65535`;
  const n = Number(port);
  if (n < 1 || n > 65535) return `"${endpoint}": port must be between 1 and 65535`;
  return undefined;
}

/**
 * A Triton gRPC target: `host:port`, `[ipv6]:port`, or `dns:///host:port`
 * (the gRPC name syntax that resolves every A record of the name, e.g. a
 * Kubernetes headless Service).
 *
 * `host:port` is one endpoint, its id the target; `dns:///name:port` is one
 * endpoint per address of the name, its id the address and port
 * ("10.0.0.7:8001"), which is what metrics and logs show (the join is logged
 * with the target it came from).
 */
export function readTritonTarget(endpoint: string): TargetReading {
  const shape = { problem: `"${endpoint}" must be host:port or dns:///host:port` };
  const dns = endpoint.startsWith(DNS_SCHEME);
  const target = dns ? endpoint.slice(DNS_SCHEME.length) : endpoint;
  let host: string;
  let port: string;
  if (target.startsWith("[")) {
    const close = target.indexOf("]");
    if (close < 0 || target[close + 1] !== ":") return shape;
    host = target.slice(1, close);
    port = target.slice(close + 2);
    if (!isIPv6(host)) return { problem: `"${endpoint}": "${host}" is not an IPv6 address` };
  } else {
    const colon = target.lastIndexOf(":");
    if (colon < 0) return shape;
    host = target.slice(0, colon);
    port = target.slice(colon + 1);
    if (host.includes(":")) {
      return isIPv6(host)
        ? { problem: `"${endpoint}": IPv6 addresses must be in brackets, e.g. [::1]:8001` }
        : shape;
    }
    if (!HOSTNAME.test(host)) return shape;
  }
  const problem = checkPort(endpoint, port);
  if (problem !== undefined) return { problem };
  if (!dns) return { spec: { kind: "static", id: endpoint } };
  const portNumber = Number(port);
  const spec: TargetSpec = {
    kind: "dns",
    host,
    port: portNumber,
    makeId: (address) => formatHostPort(address, portNumber),
  };
  return { spec };
}

/** What is wrong with a configured Triton endpoint, or undefined when it is well formed. */
export function checkTritonEndpoint(endpoint: string): string | undefined {
  return readTritonTarget(endpoint).problem;
}

/** The endpoint(s) a Triton target stands for; throws RangeError naming what is wrong. */
export function parseTritonTarget(target: string): TargetSpec {
  const reading = readTritonTarget(target);
  if (reading.problem !== undefined) throw new RangeError(reading.problem);
  return reading.spec;
}

/** For a `dns:///name:port` target: the authority (`name:port`) its addresses are spoken to as. */
export function tritonVirtualHost(target: string): string | undefined {
  return target.startsWith(DNS_SCHEME) ? target.slice(DNS_SCHEME.length) : undefined;
}
