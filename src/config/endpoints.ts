import { isIPv6 } from "node:net";

/**
 * Endpoint syntax checks, one per backend kind. Each returns what is wrong in
 * words an operator can act on, or undefined when the endpoint is well formed.
 * Only the syntax is checked: whether anything listens there is the readiness
 * probe's business, not the config's.
 */

// A DNS name or an IPv4 address. Underscores are tolerated because some
// service-discovery systems emit them in names.
const HOSTNAME = /^[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,62})(?:\.[A-Za-z0-9_][A-Za-z0-9_-]{0,62})*\.?$/;
const DNS_SCHEME = "dns:///";

/**
 * A Triton gRPC target: `host:port`, `[ipv6]:port`, or `dns:///host:port`
 * (the gRPC name syntax that resolves every A record of the name, e.g. a
 * Kubernetes headless Service).
 */
export function checkTritonEndpoint(endpoint: string): string | undefined {
  const shape = `"${endpoint}" must be host:port or dns:///host:port`;
  const target = endpoint.startsWith(DNS_SCHEME) ? endpoint.slice(DNS_SCHEME.length) : endpoint;
  let host: string;
  let port: string;
  if (target.startsWith("[")) {
    const close = target.indexOf("]");
    if (close < 0 || target[close + 1] !== ":") return shape;
    host = target.slice(1, close);
    port = target.slice(close + 2);
    if (!isIPv6(host)) return `"${endpoint}": "${host}" is not an IPv6 address`;
  } else {
    const colon = target.lastIndexOf(":");
    if (colon < 0) return shape;
    host = target.slice(0, colon);
    port = target.slice(colon + 1);
    if (host.includes(":")) {
      return isIPv6(host) ? `"${endpoint}": IPv6 addresses must be in brackets, e.g. [::1]:8001` : shape;
    }
    if (!HOSTNAME.test(host)) return shape;
  }
  return checkPort(endpoint, port);
}

/**
 * A vLLM server's base URL: http or https, a host, optionally a port and a
 * path prefix (a reverse proxy). Credentials are refused because the
 * effective config is printed and logged. `dns+http://` and `dns+https://`
 * prefix a URL whose host is a name to resolve into one endpoint per address
 * (a Kubernetes headless Service).
 */
export function checkVllmEndpoint(endpoint: string): string | undefined {
  const dns = /^dns\+https?:\/\//.test(endpoint);
  let url: URL;
  try {
    url = new URL(dns ? endpoint.slice("dns+".length) : endpoint);
  } catch {
    if (dns) return `"${endpoint}" must be dns+http:// or dns+https:// followed by host:port`;
    return `"${endpoint}" must be an http:// or https:// URL`;
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") {
    return `"${endpoint}" must be an http:// or https:// URL`;
  }
  if (url.username !== "" || url.password !== "") return `"${endpoint}" must not contain credentials`;
  if (url.search !== "" || url.hash !== "") return `"${endpoint}" must not have a query or fragment`;
  // URL accepts "http://host:0" and normalises default ports away, so only 0 needs a check.
  if (url.port === "0") return `"${endpoint}": port must be between 1 and 65535`;
  return undefined;
}

function checkPort(endpoint: string, port: string): string | undefined {
  if (!/^[0-9]{1,5}$/.test(port)) return `"${endpoint}": port must be a number between 1 and 65535`;
  const n = Number(port);
  if (n < 1 || n > 65535) return `"${endpoint}": port must be between 1 and 65535`;
  return undefined;
}
