import type { Logger } from "@aws-lambda-powertools/logger";
import type { Context } from "aws-lambda";
import type { Transaction } from "../dedup/transaction.js";

/** What a handler gets besides its message. */
export interface HandlerContext<TTransaction extends Transaction | undefined = Transaction | undefined> {
  /** The consumer group being served. */
  readonly group: string;
  /** 1 on first delivery (SQS ApproximateReceiveCount); undefined where the source does not say. */
  readonly attempt: number | undefined;
  /** The source record's id: SQS message id, Kinesis or DynamoDB Streams sequence number. */
  readonly sourceRecordId: string;
  /** The Lambda invocation context, when running in Lambda. */
  readonly lambdaContext: Context | undefined;
  readonly logger: Logger;
  /**
   * In transactional dedup mode: add DynamoDB writes and outgoing messages here, and they commit in one
   * DynamoDB transaction with the record's completion. Undefined otherwise. Typed by the guard: with
   * `dynamoDbDedup({ mode: "transactional" })` it is a `Transaction`, never undefined.
   */
  readonly transaction: TTransaction;
}

export type MessageHandler<
  TMessage,
  TTransaction extends Transaction | undefined = Transaction | undefined,
> = (message: TMessage, context: HandlerContext<TTransaction>) => Promise<void> | void;
