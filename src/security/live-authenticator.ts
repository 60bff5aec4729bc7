import {
  type Authenticator,
  type AuthenticatorDeps,
  type AuthOptions,
  createAuthenticator,
} from "./authenticator.js";

/**
 * The authenticator of a running gateway: the transport holds this one
 * object, and a live change of `auth.*` (or a reload, which reads the key
 * files again) swaps what it delegates to. Requests already admitted keep the
 * client object they resolved; the next request sees the new config.
 */
export interface LiveAuthenticator extends Authenticator {
  /**
   * Builds the authenticator of `next`, reading its key files (throws naming
   * the field when one cannot be read), and returns the function that puts
   * it in force. Nothing changes until that is called.
   */
  prepare(next: AuthOptions): () => void;
  /** Reads the key files of the config in force again (a rotated Secret); throws like `prepare`. */
  refresh(): void;
}

export function createLiveAuthenticator(opts: AuthOptions, deps: AuthenticatorDeps): LiveAuthenticator {
  let options = opts;
  let current = createAuthenticator(opts, deps);
  const live: LiveAuthenticator = {
    get anonymous() {
      return current.anonymous;
    },
    get clients() {
      return current.clients;
    },
    authenticate: (authorization, peer) => current.authenticate(authorization, peer),
    prepare(next) {
      const built = createAuthenticator(next, { ...deps, previous: current });
      return () => {
        options = next;
        current = built;
      };
    },
    refresh() {
      live.prepare(options)();
    },
  };
  return live;
}
