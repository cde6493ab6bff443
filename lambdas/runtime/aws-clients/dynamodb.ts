import { DynamoDBClient } from "@aws-sdk/client-dynamodb";

/**
 * The module-level client, created on first use from the standard environment (AWS_REGION,
 * AWS_ENDPOINT_URL[_<SERVICE>], credentials) and reused across invocations of a warm Lambda. One module a
 * client, so that a bundle loads only the SDK clients its code uses (cold start). Every API of this
 * runtime also takes an injected client.
 */
let client: DynamoDBClient | undefined;

export const defaultDynamoDbClient = (): DynamoDBClient => (client ??= new DynamoDBClient({}));
