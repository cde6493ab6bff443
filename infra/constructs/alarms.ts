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

/** Every broker alarm evaluates periods of this length, so that alarms and dashboard read alike. */
export const ALARM_PERIOD = Duration.minutes(1);

/** A consumer function failing or throttled, per minute; `subject` ends each description. */
export function consumerFunctionAlarms(consumer: IFunction, subject: string): AlarmDefinition[] {
  return [
    {
      id: "ConsumerErrorsAlarm",
      description: `The consumer function fails (${subject})`,
      metric: consumer.metricErrors({ period: ALARM_PERIOD }),
      threshold: 1,
    },
    {
      id: "ConsumerThrottlesAlarm",
      description: `The consumer function is throttled (${subject})`,
      metric: consumer.metricThrottles({ period: ALARM_PERIOD }),
      threshold: 1,
    },
  ];
}
