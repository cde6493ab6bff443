import type { AttributeValue, TransactWriteItem } from "@aws-sdk/client-dynamodb";

/**
 * Bytes of attribute values as DynamoDB counts them against its limits: names and strings by their UTF-8
 * length, binary by its length, a number by about one byte per two significant digits plus one, a boolean
 * or null as one byte, a list or map as 3 bytes plus one per element plus its contents.
 * https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/CapacityUnitCalculations.html
 */
export function attributesSize(attributes: Record<string, AttributeValue> | undefined): number {
  let bytes = 0;
  for (const [name, value] of Object.entries(attributes ?? {})) bytes += utf8(name) + valueSize(value);
  return bytes;
}

export function valueSize(value: AttributeValue): number {
  if (value.S !== undefined) return utf8(value.S);
  if (value.N !== undefined) return numberSize(value.N);
  if (value.B !== undefined) return value.B.byteLength;
  if (value.BOOL !== undefined || value.NULL !== undefined) return 1;
  if (value.SS !== undefined) return value.SS.reduce((sum, item) => sum + utf8(item), 0);
  if (value.NS !== undefined) return value.NS.reduce((sum, item) => sum + numberSize(item), 0);
  if (value.BS !== undefined) return value.BS.reduce((sum, item) => sum + item.byteLength, 0);
  if (value.L !== undefined) return value.L.reduce((sum, item) => sum + 1 + valueSize(item), 3);
  if (value.M !== undefined)
    return Object.entries(value.M).reduce((sum, [name, item]) => sum + 1 + utf8(name) + valueSize(item), 3);
  return 0;
}

/** The bytes one transaction action adds: its item or key, its expressions and their values and names. */
export function actionSize(item: TransactWriteItem): number {
  const action = item.Put ?? item.Update ?? item.Delete ?? item.ConditionCheck;
  if (!action) return 0;
  const body = action as {
    Item?: Record<string, AttributeValue>;
    Key?: Record<string, AttributeValue>;
    UpdateExpression?: string;
    ConditionExpression?: string;
    ExpressionAttributeNames?: Record<string, string>;
    ExpressionAttributeValues?: Record<string, AttributeValue>;
  };
  const names = Object.entries(body.ExpressionAttributeNames ?? {}).reduce(
    (sum, [placeholder, name]) => sum + utf8(placeholder) + utf8(name),
    0,
  );
  return (
    attributesSize(body.Item) +
    attributesSize(body.Key) +
    attributesSize(body.ExpressionAttributeValues) +
    utf8(body.UpdateExpression ?? "") +
    utf8(body.ConditionExpression ?? "") +
    names
  );
}

function numberSize(text: string): number {
  const digits = text.replace(/^[-+]/, "").replace(/e.*/i, "").replace(".", "").replace(/^0+/, "");
  const significant = digits.replace(/0+$/, "").length;
  return Math.min(21, Math.ceil(significant / 2) + 1);
}

const utf8 = (text: string) => Buffer.byteLength(text); // UTF-8 is its default
