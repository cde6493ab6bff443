/**
 * Issue 12: every numeric setting the constructs expose, on both sides of AWS's documented limit. The accepted
 * side synthesizes; the refused side fails synth with the construct path and the offending value (the README's
 * "AWS limits checked at synth" table lists each limit and its source).
 */
import { Duration, type Stack, Token } from "aws-cdk-lib";
import { Annotations, Match } from "aws-cdk-lib/assertions";
import { Key } from "aws-cdk-lib/aws-kms";
import { Queue } from "aws-cdk-lib/aws-sqs";
import { describe, expect, it } from "vitest";
import { DedupTable } from "../../infra/constructs/dedup-table.js";
import { FanOutTopic } from "../../infra/constructs/fan-out-topic.js";
import { Outbox } from "../../infra/constructs/outbox.js";
import { ShardedStream } from "../../infra/constructs/sharded-stream.js";
import { consumerFunction, testStack } from "../support/cdk.js";

type Build = (stack: Stack, value: number) => void;

const queueGroup =
  (options: (value: number) => Record<string, unknown>, fifo = false, withConsumer = false): Build =>
  (stack, value) =>
    new FanOutTopic(stack, "Orders", { fifo }).addConsumerGroup("billing", {
      ...(withConsumer ? { consumer: consumerFunction(stack, "Billing", Duration.seconds(10)) } : {}),
      ...options(value),
    });
const streamGroup =
  (options: (value: number) => Record<string, unknown>): Build =>
  (stack, value) =>
    new ShardedStream(stack, "Ledger").addConsumerGroup("ledger", {
      consumer: consumerFunction(stack, "LedgerFn"),
      ...options(value),
    });
const seconds = (value: number) => Duration.seconds(value);

interface Limit {
  setting: string;
  path: string;
  build: Build;
  accepted: number[];
  refused: number[];
}

const limits: Limit[] = [
  // Lambda SQS event source (services-sqs-parameters.html, API_CreateEventSourceMapping.html)
  {
    setting: "SQS batchSize (standard, 5 s window)",
    path: "Test/Orders/billing",
    build: queueGroup((v) => ({ batchSize: v, maxBatchingWindow: seconds(5) })),
    accepted: [1, 10_000],
    refused: [0, 10_001],
  },
  {
    setting: "SQS batchSize (FIFO)",
    path: "Test/Orders/billing",
    build: queueGroup((v) => ({ batchSize: v }), true),
    accepted: [1, 10],
    refused: [0, 11],
  },
  {
    setting: "SQS maxBatchingWindow",
    path: "Test/Orders/billing",
    build: queueGroup((v) => ({ maxBatchingWindow: seconds(v) })),
    accepted: [0, 300],
    refused: [301],
  },
  {
    setting: "SQS maxConcurrency",
    path: "Test/Orders/billing",
    build: queueGroup((v) => ({ maxConcurrency: v })),
    accepted: [2, 1_000],
    refused: [1, 1_001],
  },
  // SQS queue attributes (API_CreateQueue.html, sqs-dead-letter-queues.html)
  {
    setting: "SQS visibilityTimeout",
    path: "Test/Orders/billing",
    build: queueGroup((v) => ({ visibilityTimeout: seconds(v) })),
    accepted: [0, 43_200],
    refused: [43_201],
  },
  {
    setting: "SQS retentionPeriod",
    path: "Test/Orders/billing",
    build: queueGroup((v) => ({ retentionPeriod: seconds(v) })),
    accepted: [60, 1_209_599],
    refused: [59, 1_209_601],
  },
  {
    setting: "SQS deadLetterRetentionPeriod",
    path: "Test/Orders/billing",
    build: queueGroup((v) => ({ deadLetterRetentionPeriod: seconds(v), retentionPeriod: seconds(60) })),
    accepted: [61, 1_209_600],
    refused: [1_209_601],
  },
  {
    setting: "SQS maxReceiveCount",
    path: "Test/Orders/billing",
    build: queueGroup((v) => ({ maxReceiveCount: v })),
    accepted: [1, 1_000],
    refused: [0, 1_001],
  },
  {
    setting: "SQS queueProps.deliveryDelay",
    path: "Test/Orders/billing",
    build: queueGroup((v) => ({ queueProps: { deliveryDelay: seconds(v) } })),
    accepted: [0, 900],
    refused: [901],
  },
  {
    setting: "SQS queueProps.receiveMessageWaitTime",
    path: "Test/Orders/billing",
    build: queueGroup((v) => ({ queueProps: { receiveMessageWaitTime: seconds(v) } })),
    accepted: [0, 20],
    refused: [21],
  },
  {
    setting: "SQS queueProps.maxMessageSizeBytes",
    path: "Test/Orders/billing",
    build: queueGroup((v) => ({ queueProps: { maxMessageSizeBytes: v } })),
    accepted: [262_144, 1_048_576],
    refused: [1_023, 1_048_577],
  },
  // Lambda Kinesis event source (with-kinesis.html, API_CreateEventSourceMapping.html)
  {
    setting: "Kinesis batchSize",
    path: "Test/Ledger/ledger",
    build: streamGroup((v) => ({ batchSize: v })),
    accepted: [1, 10_000],
    refused: [0, 10_001],
  },
  {
    setting: "Kinesis maxBatchingWindow",
    path: "Test/Ledger/ledger",
    build: streamGroup((v) => ({ maxBatchingWindow: seconds(v) })),
    accepted: [0, 300],
    refused: [301],
  },
  {
    setting: "Kinesis parallelizationFactor",
    path: "Test/Ledger/ledger",
    build: streamGroup((v) => ({ parallelizationFactor: v })),
    accepted: [1, 10],
    refused: [0, 11],
  },
  {
    setting: "Kinesis retryAttempts",
    path: "Test/Ledger/ledger",
    build: streamGroup((v) => ({ retryAttempts: v })),
    accepted: [0, 10_000],
    refused: [-2, 10_001],
  },
  {
    setting: "Kinesis maxRecordAge",
    path: "Test/Ledger/ledger",
    build: streamGroup((v) => ({ maxRecordAge: seconds(v) })),
    accepted: [60, 604_800],
    refused: [59, 604_801],
  },
  {
    setting: "Kinesis tumblingWindow",
    path: "Test/Ledger/ledger",
    build: streamGroup((v) => ({ tumblingWindow: seconds(v) })),
    accepted: [0, 900],
    refused: [901],
  },
  // Kinesis stream (service-sizes-and-limits.html, kinesis-extended-retention.html)
  {
    setting: "Kinesis shardCount",
    path: "Test/Ledger",
    build: (stack, v) => new ShardedStream(stack, "Ledger", { shardCount: v }),
    accepted: [1, 4_096],
    refused: [0],
  },
  {
    setting: "Kinesis retentionPeriod (hours)",
    path: "Test/Ledger",
    build: (stack, v) => new ShardedStream(stack, "Ledger", { retentionPeriod: Duration.hours(v) }),
    accepted: [24, 8_760],
    refused: [23, 8_761],
  },
  // SNS FIFO archive (fifo-message-archiving-replay.html)
  {
    setting: "SNS archiveRetentionDays",
    path: "Test/Orders",
    build: (stack, v) => new FanOutTopic(stack, "Orders", { fifo: true, archiveRetentionDays: v }),
    accepted: [1, 365],
    refused: [0, 366],
  },
  // DynamoDB stream event source of the outbox relay (with-ddb.html)
  {
    setting: "Outbox batchSize",
    path: "Test/Outbox",
    build: (stack, v) =>
      new Outbox(stack, "Outbox", {
        dedupTable: new DedupTable(stack, "Dedup", { stream: true }),
        batchSize: v,
      }),
    accepted: [1, 10_000],
    refused: [0, 10_001],
  },
  {
    setting: "Outbox retryAttempts",
    path: "Test/Outbox",
    build: (stack, v) =>
      new Outbox(stack, "Outbox", {
        dedupTable: new DedupTable(stack, "Dedup", { stream: true }),
        retryAttempts: v,
      }),
    accepted: [0, 10_000],
    refused: [-2, 10_001],
  },
  // Dedup retention: the construct's own range (DynamoDB TTL has none)
  {
    setting: "DedupTable retention",
    path: "Test/Dedup",
    build: (stack, v) => new DedupTable(stack, "Dedup", { retention: seconds(v) }),
    accepted: [300, 31_536_000],
    refused: [299, 31_536_001],
  },
];

describe("AWS limits checked at synth, on both sides", () => {
  for (const limit of limits) {
    it(`${limit.setting}: accepts ${limit.accepted.join(" and ")}, refuses ${limit.refused.join(" and ")} naming ${limit.path}`, () => {
      for (const value of limit.accepted) {
        expect(() => limit.build(testStack(), value), `${value} should be accepted`).not.toThrow();
      }
      for (const value of limit.refused) {
        let message = "";
        try {
          limit.build(testStack(), value);
        } catch (error) {
          message = (error as Error).message;
        }
        expect(message, `${value} should be refused`).toMatch(new RegExp(`^${limit.path}: `));
        expect(message).toMatch(/provided|must|above|below/);
      }
    });
  }

  it("leaves unresolved tokens to deploy time", () => {
    expect(() =>
      queueGroup(() => ({
        queueProps: { deliveryDelay: Duration.seconds(Token.asNumber({ Ref: "Delay" })) },
      }))(testStack(), 0),
    ).not.toThrow();
  });
});

describe("a group that brings its own queue (checked as far as CDK can see)", () => {
  const build = (queueOf: (stack: Stack) => Queue, consumerTimeout = 10) => {
    const stack = testStack();
    const topic = new FanOutTopic(stack, "Orders");
    topic.addConsumerGroup("billing", {
      queue: queueOf(stack),
      consumer: consumerFunction(stack, "Billing", Duration.seconds(consumerTimeout)),
    });
    return stack;
  };
  const withDlq = (stack: Stack, source: number, dead: number, visibility = 60, deadFifo = false) =>
    new Queue(stack, "Mine", {
      retentionPeriod: Duration.seconds(source),
      visibilityTimeout: Duration.seconds(visibility),
      deadLetterQueue: {
        queue: new Queue(stack, "MineDlq", {
          retentionPeriod: Duration.seconds(dead),
          ...(deadFifo ? { fifo: true } : {}),
        }),
        maxReceiveCount: 5,
      },
    });

  it("refuses a dead-letter queue that does not outlive the queue, accepts one that does", () => {
    expect(() => build((stack) => withDlq(stack, 345_600, 345_600))).toThrow(
      /^Test\/Orders\/billing: the dead-letter queue Test\/MineDlq keeps messages 345600 seconds, which is not longer than the queue Test\/Mine/,
    );
    expect(() => build((stack) => withDlq(stack, 345_600, 345_601))).not.toThrow();
  });

  it("refuses a FIFO dead-letter queue for a standard queue", () => {
    expect(() => build((stack) => withDlq(stack, 60, 1_209_600, 60, true))).toThrow(
      /the queue Test\/Mine is standard but its dead-letter queue Test\/MineDlq is FIFO/,
    );
  });

  it("refuses a visibility timeout below the consumer's timeout (Lambda rejects the mapping), accepts it equal", () => {
    expect(() => build((stack) => withDlq(stack, 60, 120, 9))).toThrow(
      /the queue Test\/Mine has a visibility timeout of 9 seconds, below the consumer's timeout \(10 seconds\)/,
    );
    expect(() => build((stack) => withDlq(stack, 60, 120, 10))).not.toThrow();
    // SQS's default visibility timeout (30 s) is checked too when the queue does not set one.
    expect(() => build((stack) => new Queue(stack, "Mine"), 31)).toThrow(/visibility timeout of 30 seconds/);
  });

  it("warns about a queue without a dead-letter queue, and about an imported queue's unchecked settings", () => {
    const own = build((stack) => new Queue(stack, "Mine", { visibilityTimeout: Duration.seconds(60) }));
    Annotations.fromStack(own).hasWarning(
      "/Test/Orders/billing",
      Match.stringLikeRegexp("The queue Test/Mine has no dead-letter queue"),
    );
    // A queue of this app gets its policy for SNS from CDK: no warning that it must be arranged by hand.
    Annotations.fromStack(own).hasNoWarning(
      "/Test/Orders/billing",
      Match.stringLikeRegexp("sqs:SendMessage"),
    );
    const withImportedKey = build(
      (stack) =>
        new Queue(stack, "Mine", {
          visibilityTimeout: Duration.seconds(60),
          encryptionMasterKey: Key.fromKeyArn(
            stack,
            "TheirKey",
            "arn:aws:kms:us-east-1:111111111111:key/1234abcd-12ab-34cd-56ef-1234567890ab",
          ),
        }),
    );
    Annotations.fromStack(withImportedKey).hasWarning(
      "/Test/Orders/billing",
      Match.stringLikeRegexp("The key Test/TheirKey of the queue Test/Mine is imported.*kms:Decrypt"),
    );

    const stack = testStack();
    new FanOutTopic(stack, "Orders").addConsumerGroup("billing", {
      queue: Queue.fromQueueArn(stack, "Theirs", "arn:aws:sqs:us-east-1:111111111111:theirs"),
      consumer: consumerFunction(stack, "Billing"),
    });
    Annotations.fromStack(stack).hasWarning(
      "/Test/Orders/billing",
      Match.stringLikeRegexp(
        "is imported, so its settings cannot be checked here.*standard dead-letter queue",
      ),
    );
  });
});
