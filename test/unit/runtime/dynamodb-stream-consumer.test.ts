import { describe, expect, it } from "vitest";
import {
  dynamoDbStreamConsumer,
  type StreamChange,
} from "../../../lambdas/runtime/consumers/dynamodb-stream-consumer.js";
import { dynamodbEvent, dynamodbRecord } from "../../support/lambda-events.js";
import { RecordingDeadLetters, RecordingObserver } from "../../support/recording.js";

type Row = { pk: string; total: number };

describe("dynamoDbStreamConsumer", () => {
  it("hands over unmarshalled images, in order, and stops at the first failure", async () => {
    const seen: Row[] = [];
    const handler = dynamoDbStreamConsumer<Row>({
      group: "relay",
      deadLetterSink: new RecordingDeadLetters(),
      observer: new RecordingObserver(),
      handler: (change: StreamChange<Row>) => {
        if (change.newImage?.pk === "o-2") throw new Error("topic unavailable");
        if (change.newImage) seen.push(change.newImage);
      },
    });
    const response = await handler(
      dynamodbEvent(
        dynamodbRecord("100", { pk: "o-1", total: 5 }),
        dynamodbRecord("101", { pk: "o-2", total: 6 }),
        dynamodbRecord("102", { pk: "o-3", total: 7 }),
      ),
    );

    expect(seen).toEqual([{ pk: "o-1", total: 5 }]);
    expect(response.batchItemFailures).toEqual([{ itemIdentifier: "101" }, { itemIdentifier: "102" }]);
  });
});
