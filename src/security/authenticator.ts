import type { AuthFailureReason, SecurityMetrics } from "../observability/security-metrics.js";
import { quoteClientText } from "../util/client-text.js";
import type { Clock } from "../util/clock.js";
import { GatewayError } from "../util/gateway-error.js";
import { KeyIndex, parseBearer, readKeyFile, sha256 } from "./api-key.js";
import { AuthenticatedClient, type PolicyOptions } from "./client-policy.js";

/** The name anonymous requests are served and counted under. */
export const ANONYMOUS = "anonymous";

/** One `auth.clients` entry: how it is recognised, and its policy. */
export interface ClientOptions extends PolicyOptions {
  readonly name: string;
  /** Hex SHA-256 digests of accepted keys. */
  readonly apiKeySha256: readonly string[];
  /** A secret file holding one more accepted key, in the clear. */
  readonly apiKeyFile: string | null;
  /** Exact subject CNs of mTLS peer certificates. */
  readonly certSubjects: readonly string[];
}

/** The `auth` section, in the shape the authenticator needs. */
export interface AuthOptions {
  readonly anonymous: boolean;
  readonly anonymousPolicy: PolicyOptions;
  readonly clients: readonly ClientOptions[];
}

/** What the transport knows of a verified mTLS peer (node's PeerCertificate has this shape). */
export interface PeerCertificateLike {
  readonly subject?: { readonly CN?: string | readonly string[] | undefined } | undefined;
}

/**
 * Where the peer certificate comes from: a grpc-js call (its auth context
 * holds the certificate only when the handshake verified it). Passing the
 * call, not a closure, keeps identification allocation-free.
 */
export interface PeerSource {
  getAuthContext(): { readonly sslPeerCertificate?: PeerCertificateLike | undefined };
}

export interface Authenticator {
  /** The client anonymous requests are served as; undefined when auth.anonymous is false. */
  readonly anonymous: AuthenticatedClient | undefined;
  /** Every configured client by name (anonymous not included). */
  readonly clients: ReadonlyMap<string, AuthenticatedClient>;
  /**
   * The caller of a request, from its `authorization` metadata values and,
   * only when needed, its verified peer certificate; or the UNAUTHENTICATED
   * error to answer. A bearer key wins over a certificate.
   */
  authenticate(authorization: readonly unknown[], peer: PeerSource): AuthenticatedClient | GatewayError;
}

export interface AuthenticatorDeps {
  readonly clock: Clock;
  readonly metrics: SecurityMetrics;
  /** The authenticator being replaced: clients whose rate limit is unchanged keep their buckets. */
  readonly previous?: Authenticator | undefined;
  /** Reads a client's apiKeyFile; default: the file, trimmed. Throws naming the field. */
  readonly readKeyFile?: (path: string, field: string) => string;
}

/**
 * Builds the authenticator of one `auth` config. Key files are read here
 * (at start and at every reload), so a rotated Secret applies on reload;
 * an unreadable or empty file throws, naming `auth.clients[i].apiKeyFile`.
 */
export function createAuthenticator(opts: AuthOptions, deps: AuthenticatorDeps): Authenticator {
  const read = deps.readKeyFile ?? readKeyFile;
  const build = (name: string, policy: PolicyOptions) =>
    new AuthenticatedClient(name, policy, {
      clock: deps.clock,
      metrics: deps.metrics,
      previousBucket:
        name === ANONYMOUS ? deps.previous?.anonymous?.bucket : deps.previous?.clients.get(name)?.bucket,
    });

  const clients = new Map<string, AuthenticatedClient>();
  const keys: { digest: Buffer; owner: AuthenticatedClient }[] = [];
  const subjects = new Map<string, AuthenticatedClient>();
  opts.clients.forEach((c, i) => {
    const client = build(c.name, c);
    clients.set(c.name, client);
    for (const hex of c.apiKeySha256) keys.push({ digest: Buffer.from(hex, "hex"), owner: client });
    if (c.apiKeyFile !== null) {
      keys.push({ digest: sha256(read(c.apiKeyFile, `auth.clients[${i}].apiKeyFile`)), owner: client });
    }
    for (const s of c.certSubjects) subjects.set(s, client);
  });
  const keyIndex = new KeyIndex(keys);
  const anonymous = opts.anonymous ? build(ANONYMOUS, opts.anonymousPolicy) : undefined;
  // Only then is the peer certificate worth reading: it can name a client, or anonymous requests are refused.
  const readsCertificates = subjects.size > 0 || anonymous === undefined;
  const { metrics } = deps;

  function refuse(reason: AuthFailureReason, message: string): GatewayError {
    metrics.authFailure(reason);
    return new GatewayError("UNAUTHENTICATED", message);
  }

  return {
    anonymous,
    clients,
    authenticate(authorization, peer) {
      if (authorization.length > 0) {
        const bearer = parseBearer(authorization);
        if (!bearer.ok) return refuse("malformed", "authorization: expected 'Bearer <key>'");
        return keyIndex.find(bearer.key) ?? refuse("unknown_key", "authorization: unknown API key");
      }
      if (readsCertificates) {
        const cert = peer.getAuthContext().sslPeerCertificate;
        if (cert !== undefined) {
          const cn = subjectName(cert);
          const client = cn === undefined ? undefined : subjects.get(cn);
          if (client !== undefined) return client;
          // A verified certificate that names no client is no credential; with anonymous on, it is just anonymous.
          if (anonymous === undefined) {
            return refuse(
              "unknown_certificate",
              `authorization: client certificate ${cn === undefined ? "without a single subject CN" : `CN=${quoteClientText(cn)}`} is not a configured client`,
            );
          }
        }
      }
      return (
        anonymous ??
        refuse(
          "missing",
          "authorization: credentials required (metadata 'authorization: Bearer <key>' or a client certificate)",
        )
      );
    },
  };
}

/**
 * The subject CN a certificate identifies, or undefined. A subject with
 * several CNs (node parses them as an array) is ambiguous, so it names no one.
 */
export function subjectName(cert: PeerCertificateLike): string | undefined {
  const cn = cert.subject?.CN;
  return typeof cn === "string" && cn !== "" ? cn : undefined;
}
