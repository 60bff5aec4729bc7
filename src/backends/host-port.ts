/** Host and port text as gRPC targets and URLs write them. */
import { isIPv6 } from "node:net";

/** "host:port", with an IPv6 address in brackets. */
export function formatHostPort(host: string, port: number): string {
  return isIPv6(host) ? `[${host}]:${port}` : `${host}:${port}`;
}

/** "host:port" or "[ipv6]:port" split apart (brackets removed); undefined when it is neither. */
export function splitHostPort(text: string): { host: string; port: number } | undefined {
  const m = /^(?:\[([^\]]+)\]|([^:[\]]+)):([0-9]{1,5})$/.exec(text);
  if (!m) return undefined;
  const port = Number(m[3]);
  if (port < 1 || port > 65535) return undefined;
  return { host: (m[1] ?? m[2])!, port };
}

// A DNS name or an IPv4 address. Underscores are tolerated because some
// service-discovery systems emit them in names.
export const HOSTNAME = /^[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,62})(?:\.[A-Za-z0-9_][A-Za-z0-9_-]{0,62})*\.?$/;

/** What is wrong with `port` of `endpoint` (1..65535, digits only), or undefined. */
export function checkPort(endpoint: string, port: string): string | undefined {
  if (!/^[0-9]{1,5}$/.test(port)) return `"${endpoint}": port must be a number between 1 and 65535`;
  const n = Number(port);
  if (n < 1 || n > 65535) return `"${endpoint}": port must be between 1 and 65535`;
  return undefined;
}
