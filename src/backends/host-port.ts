/** Host and port text as gRPC targets and URLs write them. */
import { isIPv6 } from "node:net";

/** "host:port", with an IPv6 address in brackets. */
export function formatHostPort(host: string, port: number): string {
  return isIPv6(host) ? `[${host}]:${port}` : `${host}:${port}`;
}
