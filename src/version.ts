import { createRequire } from "node:module";

const require = createRequire(import.meta.url);

/** The package version (package.json sits two levels above both src/ and dist/ modules' folder). */
export const VERSION: string = (require("../package.json") as { version: string }).version;
