/**
 * vLLM endpoint strings, read once for both their users: the config's check
 * (what is wrong, in words an operator can act on) and the backend (what to
 * dial, and the virtual host a resolved address is spoken to as). Only the
 * syntax is read: whether anything listens there is the readiness probe's
 * business.
 */
import { isIP } from "node:net";
import type { TargetReading, TargetSpec } from "../discovery.js";
import { formatHostPort } from "../host-port.js";
import type { VllmVirtualHost } from "./endpoint.js";

const DNS_PREFIX = "dns+";

/**
 * A vLLM server's base URL: http or https, a host, optionally a port and a
 * path prefix (a reverse proxy). Credentials are refused because the
 * effective config is printed and logged. `dns+http://` and `dns+https://`
 * prefix a URL whose host is a name to resolve into one endpoint per address
 * (a Kubernetes headless Service).
 *
 * A plain URL is one endpoint, its id the URL; `dns+http://name:port/prefix`
 * is one endpoint per address of the name, its id the URL that is dialled
 * ("http://10.0.0.7:8000/prefix"). Requests still carry `Host: name:port`
 * (and, over https, the name as TLS server name), as if the name had been
 * dialled: see vllmVirtualHost.
 */
export function readVllmTarget(endpoint: string): TargetReading {
  const read = readUrl(endpoint);
  if ("problem" in read) return read;
  const { url, dns } = read;
  if (!dns) return { spec: { kind: "static", id: endpoint } };
  const host = bareHost(url);
  const port = url.port === "" ? (url.protocol === "https:" ? 443 : 80) : Number(url.port);
  const path = url.pathname.replace(/\/+$/, "");
  const spec: TargetSpec = {
    kind: "dns",
    host,
    port,
    makeId: (address) => `${url.protocol}//${formatHostPort(address, port)}${path}`,
  };
  return { spec };
}

/** What is wrong with a configured vLLM endpoint, or undefined when it is well formed. */
export function checkVllmEndpoint(endpoint: string): string | undefined {
  return readVllmTarget(endpoint).problem;
}

/** The endpoint(s) a vLLM target stands for; throws RangeError naming what is wrong. */
export function parseVllmTarget(target: string): TargetSpec {
  const reading = readVllmTarget(target);
  if (reading.problem !== undefined) throw new RangeError(reading.problem);
  return reading.spec;
}

/** For a `dns+http(s)://` target: the Host header and TLS server name its addresses are spoken to with. */
export function vllmVirtualHost(target: string): VllmVirtualHost | undefined {
  const read = readUrl(target);
  if ("problem" in read || !read.dns) return undefined;
  const name = bareHost(read.url);
  return { host: read.url.host, servername: isIP(name) === 0 ? name : undefined };
}

function readUrl(
  endpoint: string,
): { readonly url: URL; readonly dns: boolean } | { readonly problem: string } {
  const dns = /^dns\+https?:\/\//.test(endpoint);
  let url: URL;
  try {
    url = new URL(dns ? endpoint.slice(DNS_PREFIX.length) : endpoint);
  } catch {
    if (dns) return { problem: `"${endpoint}" must be dns+http:// or dns+https:// followed by host:port` };
    return { problem: `"${endpoint}" must be an http:// or https:// URL` };
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") {
    return { problem: `"${endpoint}" must be an http:// or https:// URL` };
  }
  if (url.username !== "" || url.password !== "")
    return { problem: `"${endpoint}" must not contain credentials` };
  if (url.search !== "" || url.hash !== "")
    return { problem: `"${endpoint}" must not have a query or fragment` };
  // URL accepts "http://host:0" and normalises default ports away, so only 0 needs a check.
  if (url.port === "0") return { problem: `"${endpoint}": port must be between 1 and 65535` };
  return { url, dns };
}

/** The URL's host without the brackets of an IPv6 address. */
function bareHost(url: URL): string {
  return url.hostname.replace(/^\[(.*)\]$/, "$1");
}
