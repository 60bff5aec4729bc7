// `node --import <this file>`: records every module the process loads. A load hook (on the
// loader thread) appends each file: URL, one a line, to the file named by RG_MODULE_LOG.
// test/cli/serve-modules.test.ts reads it to see which of the project's modules `serve` loaded.
import { register } from "node:module";

register("./module-recorder-hooks.mjs", import.meta.url, { data: { file: process.env.RG_MODULE_LOG } });
