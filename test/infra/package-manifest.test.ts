/** What package.json promises a CDK user installing the constructs into a project of their own. */
import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";

const manifest = JSON.parse(readFileSync(new URL("../../package.json", import.meta.url), "utf8")) as {
  repository?: { type: string; url: string };
  dependencies: Record<string, string>;
  devDependencies: Record<string, string>;
  peerDependencies: Record<string, string>;
  peerDependenciesMeta?: Record<string, { optional?: boolean }>;
};

describe("package.json", () => {
  it("takes aws-cdk-lib and constructs from the user's project (peer ranges), pinned only for this repository", () => {
    for (const name of ["aws-cdk-lib", "constructs"]) {
      expect(manifest.dependencies[name], `${name} must not be a dependency`).toBeUndefined();
      expect(manifest.peerDependencies[name]).toMatch(/^\^\d+\.\d+\.\d+$/);
      expect(manifest.peerDependenciesMeta?.[name]?.optional ?? false).toBe(false);
      expect(manifest.devDependencies[name]).toMatch(/^\d+\.\d+\.\d+$/);
      // The pinned version this repository tests with lies inside the range users get.
      expect(manifest.peerDependencies[name]).toBe(`^${manifest.devDependencies[name]}`);
    }
  });

  it("names its git repository, so that the registry page links to the source", () => {
    expect(manifest.repository).toEqual({
      type: "git",
      url: "git+https://github.com/serverless-broker/serverless-broker.git",
    });
  });
});
