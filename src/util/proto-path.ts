import { fileURLToPath } from "node:url";

/**
 * The repository's `proto/` directory, for proto-loader's `includeDirs`.
 * Resolved from this module's own location: `src/util/proto-path.ts` and its
 * compiled twin `dist/util/proto-path.js` both sit two levels below the root,
 * and `proto/` ships in the package next to `dist/`, so the same relative URL
 * works from source (tests) and from the build.
 */
export const PROTO_DIR: string = fileURLToPath(new URL("../../proto/", import.meta.url));
