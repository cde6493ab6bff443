import { Duration } from "aws-cdk-lib";
import {
  Alarm,
  ComparisonOperator,
  type IAlarmAction,
  type IMetric,
  TreatMissingData,
} from "aws-cdk-lib/aws-cloudwatch";
import type { IFunction } from "aws-cdk-lib/aws-lambda";
import type { Construct } from "constructs";

export interface AlarmDefinition {
  /** The alarm's construct id. */
  readonly id: string;
  readonly description: string;
  readonly metric: IMetric;
  /** Fires at or above this value. */
  readonly threshold: number;
  /** @default 1 */
  readonly evaluationPeriods?: number;
}

/**
 * The broker's alarms all work alike: they fire at or above their threshold, a period without data is
 * healthy (an idle group emits nothing), and each notifies the topology's alarm action if there is one.
 */
export function createAlarms(
  scope: Construct,
  definitions: readonly AlarmDefinition[],
  action: IAlarmAction | undefined,
): Alarm[] {
  return definitions.map((definition) => {
    const alarm = new Alarm(scope, definition.id, {
      alarmDescription: definition.description,
      metric: definition.metric,
      threshold: definition.threshold,
      evaluationPeriods: definition.evaluationPeriods ?? 1,
      comparisonOperator: ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
      treatMissingData: TreatMissingData.NOT_BREACHING,
    });
    if (action) alarm.addAlarmAction(action);
    return alarm;
  });
}

/** A consumer function failing or throttled, over 5 minutes; `subject` ends each description. */
export function consumerFunctionAlarms(consumer: IFunction, subject: string): AlarmDefinition[] {
  return [
    {
      id: "ConsumerErrorsAlarm",
      description: `The consumer function fails (${subject})`,
      metric: consumer.metricErrors({ period: Duration.minutes(5) }),
      threshold: 1,
    },
    {
      id: "ConsumerThrottlesAlarm",
      description: `The consumer function is throttled (${subject})`,
      metric: consumer.metricThrottles({ period: Duration.minutes(5) }),
      threshold: 1,
    },
  ];
}
