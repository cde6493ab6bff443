import { inject } from "vitest";

// Every SDK client in a test reads its endpoint, region and credentials from the standard environment.
Object.assign(process.env, inject("awsEnv"));
process.env.AWS_REGION ??= "us-east-1";
