/**
 * Which cloud `serverless-broker start` runs on. An empty AWS_ENDPOINT_URL once made it start the embedded
 * cloud but report (and print for producers) the endpoint "": "The topology keeps running at .".
 */
import { describe, expect, it } from "vitest";
import { externalEndpointOf } from "../../../infra/local/local-run.js";

describe("the endpoint a local run uses", () => {
  it("is AWS_ENDPOINT_URL when set, and the option over it", () => {
    expect(externalEndpointOf({}, { AWS_ENDPOINT_URL: "http://localhost:4577" })).toBe(
      "http://localhost:4577",
    );
    expect(externalEndpointOf({ endpoint: "http://ls:4566" }, { AWS_ENDPOINT_URL: "http://x:1" })).toBe(
      "http://ls:4566",
    );
  });

  it("is the embedded cloud when AWS_ENDPOINT_URL is unset or empty, or the embedded cloud is asked for", () => {
    expect(externalEndpointOf({}, {})).toBeUndefined();
    expect(externalEndpointOf({}, { AWS_ENDPOINT_URL: "" })).toBeUndefined();
    expect(externalEndpointOf({ embeddedCloud: true }, { AWS_ENDPOINT_URL: "http://x:1" })).toBeUndefined();
  });
});
