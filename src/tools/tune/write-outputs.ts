import { mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { tuneSvg } from "./chart.js";
import { type TuneReport, toCsv } from "./report.js";

export const TUNE_FILES = { csv: "tune.csv", svg: "tune.svg", json: "tune.json" } as const;

/** Writes tune.csv, tune.svg and tune.json into `dir` (created if missing); returns their paths. */
export async function writeTuneOutputs(dir: string, report: TuneReport): Promise<string[]> {
  await mkdir(dir, { recursive: true });
  const files: [string, string][] = [
    [TUNE_FILES.csv, toCsv(report)],
    [TUNE_FILES.svg, tuneSvg(report.points, report.recommendation, report.p99TargetMs)],
    [TUNE_FILES.json, `${JSON.stringify(report, null, 2)}\n`],
  ];
  const paths = files.map(([name]) => join(dir, name));
  await Promise.all(files.map(([, content], i) => writeFile(paths[i]!, content)));
  return paths;
}
