import { chmodSync, mkdirSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { JavaNotFoundError } from "../../../infra/local/cloud/errors.js";
import { findJava, parseJavaMajorVersion } from "../../../infra/local/cloud/java.js";

/** A directory holding a `java` that reports the given version, to stand in for an installed JRE. */
function fakeJavaHome(versionLine: string): string {
  const home = mkdtempSync(join(tmpdir(), "fake-java-"));
  const bin = join(home, "bin");
  mkdirSync(bin);
  writeFileSync(join(bin, "java"), `#!/bin/sh\necho '${versionLine}' >&2\n`);
  chmodSync(join(bin, "java"), 0o755);
  return home;
}

describe("parseJavaMajorVersion", () => {
  it.each([
    ['openjdk version "17.0.15" 2025-04-15', 17],
    ['openjdk version "21" 2023-09-19', 21],
    ['java version "1.8.0_392"', 8],
  ])("reads %s as %i", (output, major) => {
    expect(parseJavaMajorVersion(output)).toBe(major);
  });
});

describe("findJava", () => {
  it("prefers JAVA_HOME when it holds Java 17 or newer", () => {
    const home = fakeJavaHome('openjdk version "21.0.2" 2024-01-16');
    expect(findJava({ JAVA_HOME: home, PATH: "" })).toEqual({
      command: join(home, "bin", "java"),
      majorVersion: 21,
    });
  });

  it("says how to install Java, or to use LocalStack, when there is none", () => {
    const error = (() => {
      try {
        findJava({ PATH: "/nonexistent" });
      } catch (caught) {
        return caught;
      }
    })();
    expect(error).toBeInstanceOf(JavaNotFoundError);
    expect(String((error as Error).message)).toMatch(/no `java` was found/);
    expect(String((error as Error).message)).toMatch(/apt-get install -y default-jdk-headless/);
    expect(String((error as Error).message)).toMatch(/LocalStack/);
  });

  it("names the version it found when that is too old", () => {
    const home = fakeJavaHome('java version "1.8.0_392"');
    expect(() => findJava({ JAVA_HOME: home, PATH: "/nonexistent" })).toThrow(/Java 8/);
  });
});
