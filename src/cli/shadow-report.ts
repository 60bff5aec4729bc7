/**
 * `relevance-gateway shadow-report`: the comparison-log report in src/tools/shadow-report/,
 * loaded with import() only when the subcommand runs.
 */
export { runShadowReport, type ShadowReportFlags } from "../tools/shadow-report/index.js";
