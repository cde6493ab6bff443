/**
 * `npm start` runs the CDK app only when a file of the project changed since the last synthesis: an
 * unchanged app starts from the assembly on disk. The app here is a stand-in that writes a manifest and
 * counts its runs outside the project.
 */
import { mkdtempSync, readFileSync, rmSync, utimesSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { synthesize } from "../../../infra/local/apply/synth.js";

const dirs: string[] = [];
afterEach(() => {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

function project() {
  const dir = mkdtempSync(join(tmpdir(), "synth-reuse-"));
  const counter = mkdtempSync(join(tmpdir(), "synth-runs-"));
  dirs.push(dir, counter);
  const runs = join(counter, "runs");
  writeFileSync(runs, "");
  const app = `node -e "const fs=require('fs');fs.mkdirSync(process.env.CDK_OUTDIR,{recursive:true});fs.writeFileSync(process.env.CDK_OUTDIR+'/manifest.json','{}');fs.appendFileSync(${JSON.stringify(JSON.stringify(runs))},'x')"`;
  writeFileSync(join(dir, "cdk.json"), JSON.stringify({ app }));
  writeFileSync(join(dir, "handler.ts"), "export const handler = () => 1;\n");
  return { dir, runs: () => readFileSync(runs, "utf8").length };
}

describe("synthesize", () => {
  it("reuses the assembly while no file of the app changed, and runs the app again when one does", async () => {
    const app = project();
    const reused: boolean[] = [];
    const synth = (force = false) =>
      synthesize({ projectDir: app.dir, force, onReuse: () => reused.push(true) });

    await synth();
    await synth();
    expect(app.runs()).toBe(1);
    expect(reused).toHaveLength(1);

    writeFileSync(join(app.dir, "handler.ts"), "export const handler = () => 2;\n");
    utimesSync(join(app.dir, "handler.ts"), new Date(), new Date(Date.now() + 5_000));
    await synth();
    expect(app.runs()).toBe(2);

    await synth(true);
    expect(app.runs()).toBe(3);
  });
});
