/**
 * Every TypeScript example in README.md compiles as a user would paste it: each ```ts block is a module
 * of its own, with the imports it needs stated in it, type-checked (strict) against this package's sources
 * under the names users import (`serverless-broker/infra`, `/runtime`, `/local`). A block that is
 * deliberately a fragment is preceded by `<!-- fragment -->` and skipped.
 */
import { execFileSync } from "node:child_process";
import { mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";

const root = fileURLToPath(new URL("../..", import.meta.url));

interface Example {
  readonly line: number;
  readonly code: string;
}

function readmeExamples(): Example[] {
  const lines = readFileSync(join(root, "README.md"), "utf8").split("\n");
  const examples: Example[] = [];
  for (let index = 0; index < lines.length; index++) {
    if (lines[index]?.trim() !== "```ts") continue;
    const fragment = lines[index - 1]?.trim() === "<!-- fragment -->";
    const start = index + 1;
    let end = start;
    while (end < lines.length && lines[end]?.trim() !== "```") end++;
    if (!fragment) examples.push({ line: start + 1, code: lines.slice(start, end).join("\n") });
    index = end;
  }
  return examples;
}

describe("the README's TypeScript examples", () => {
  it("each compile on their own, strict, against the package's entry points", { timeout: 120_000 }, () => {
    const examples = readmeExamples();
    expect(examples.length).toBeGreaterThan(5);
    // Inside the repository, so that aws-cdk-lib, @types/aws-lambda and the rest resolve as in a project.
    const dir = join(root, "node_modules", ".cache", "readme-examples");
    rmSync(dir, { recursive: true, force: true });
    mkdirSync(dir, { recursive: true });
    const files = examples.map((example) => {
      const file = `readme-line-${example.line}.ts`;
      // `export {}` keeps a block without imports a module of its own.
      writeFileSync(join(dir, file), `${example.code}\nexport {};\n`);
      return file;
    });
    const entry = (path: string) => [join(root, path)];
    writeFileSync(
      join(dir, "tsconfig.json"),
      JSON.stringify({
        compilerOptions: {
          target: "ES2023",
          lib: ["ES2023"],
          module: "NodeNext",
          moduleResolution: "NodeNext",
          types: ["node"],
          strict: true,
          noUncheckedIndexedAccess: true,
          skipLibCheck: true,
          noEmit: true,
          paths: {
            "serverless-broker/infra": entry("infra/index.ts"),
            "serverless-broker/runtime": entry("lambdas/runtime/index.ts"),
            "serverless-broker/local": entry("infra/local/index.ts"),
          },
        },
        files,
      }),
    );

    let output = "";
    try {
      execFileSync(join(root, "node_modules", ".bin", "tsc"), ["-p", join(dir, "tsconfig.json")], {
        encoding: "utf8",
        stdio: "pipe",
      });
    } catch (error) {
      output = String((error as { stdout?: string }).stdout ?? error);
    }
    // Errors name the README line of their block: readme-line-N.ts(L,C) is README line N + L - 1.
    const errors = output
      .split("\n")
      .filter((line) => line.includes("error TS"))
      .map((line) =>
        line.replace(
          /^.*readme-line-(\d+)\.ts\((\d+),\d+\)/,
          (_, start, at) => `README.md:${Number(start) + Number(at) - 1}`,
        ),
      );
    expect(errors).toEqual([]);
  });
});
