/**
 * Item sizes as DynamoDB counts them against its 400 KB item and 4 MB transaction limits:
 * https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/CapacityUnitCalculations.html
 */
import type { TransactWriteItem } from "@aws-sdk/client-dynamodb";
import { describe, expect, it } from "vitest";
import { actionSize, attributesSize, valueSize } from "../../../lambdas/runtime/dedup/item-size.js";

describe("the size of an attribute value, as DynamoDB counts it", () => {
  it("counts a string by its UTF-8 bytes, not its characters", () => {
    expect(valueSize({ S: "abc" })).toBe(3);
    expect(valueSize({ S: "é€😀" })).toBe(2 + 3 + 4);
  });

  it("counts binary by its length, not by its JSON or base64 text", () => {
    expect(valueSize({ B: new Uint8Array(600_000) })).toBe(600_000);
  });

  it("counts a number by its significant digits: one byte per two, plus one, at most 21", () => {
    expect(valueSize({ N: "7" })).toBe(2);
    expect(valueSize({ N: "12" })).toBe(2);
    expect(valueSize({ N: "123" })).toBe(3);
    expect(valueSize({ N: "-123.45" })).toBe(4);
    expect(valueSize({ N: "+0.00120" })).toBe(2); // leading and trailing zeros are not significant
    expect(valueSize({ N: "1200000" })).toBe(2);
    expect(valueSize({ N: "1005" })).toBe(3); // zeros between significant digits count
    expect(valueSize({ N: "1.5E+10" })).toBe(2); // the exponent is not a digit of the number
    expect(valueSize({ N: "1234567890123456789012345678901234567890" })).toBe(21);
  });

  it("counts a boolean or a null as one byte", () => {
    expect(valueSize({ BOOL: false })).toBe(1);
    expect(valueSize({ NULL: true })).toBe(1);
  });

  it("counts a set as the sum of its members", () => {
    expect(valueSize({ SS: ["ab", "cde"] })).toBe(5);
    expect(valueSize({ NS: ["1", "123"] })).toBe(2 + 3);
    expect(valueSize({ BS: [new Uint8Array(4), new Uint8Array(6)] })).toBe(10);
  });

  it("counts a list or a map as 3 bytes, plus one a member, plus the members (and a map's names)", () => {
    expect(valueSize({ L: [] })).toBe(3);
    expect(valueSize({ L: [{ S: "ab" }, { BOOL: true }] })).toBe(3 + (1 + 2) + (1 + 1));
    expect(valueSize({ M: {} })).toBe(3);
    expect(valueSize({ M: { name: { S: "ab" }, n: { N: "5" } } })).toBe(3 + (1 + 4 + 2) + (1 + 1 + 2));
    expect(valueSize({ M: { inner: { L: [{ S: "x" }] } } })).toBe(3 + (1 + 5 + (3 + 1 + 1)));
  });

  it("counts an empty value as nothing", () => {
    expect(valueSize({} as never)).toBe(0);
  });
});

describe("the size of an item", () => {
  it("adds each attribute's name in UTF-8 to its value", () => {
    expect(attributesSize({ pk: { S: "order#1" }, über: { N: "42" } })).toBe(2 + 7 + 5 + 2);
    expect(attributesSize(undefined)).toBe(0);
  });
});

describe("the bytes one transaction action adds", () => {
  it("counts a Put's item", () => {
    const put: TransactWriteItem = {
      Put: { TableName: "t", Item: { pk: { S: "a" }, body: { B: new Uint8Array(10) } } },
    };
    expect(actionSize(put)).toBe(2 + 1 + 4 + 10);
  });

  it("counts an Update's key, expressions, placeholder names and values", () => {
    const update: TransactWriteItem = {
      Update: {
        TableName: "t",
        Key: { pk: { S: "a" } },
        UpdateExpression: "SET #s = :s",
        ConditionExpression: "attribute_exists(pk)",
        ExpressionAttributeNames: { "#s": "status" },
        ExpressionAttributeValues: { ":s": { S: "done" } },
      },
    };
    expect(actionSize(update)).toBe(3 + 11 + 20 + (2 + 6) + (2 + 4));
  });

  it("counts a Delete's key and a ConditionCheck's key and condition", () => {
    expect(actionSize({ Delete: { TableName: "t", Key: { pk: { S: "abc" } } } })).toBe(5);
    expect(
      actionSize({
        ConditionCheck: {
          TableName: "t",
          Key: { pk: { S: "a" } },
          ConditionExpression: "attribute_not_exists(pk)",
        },
      }),
    ).toBe(3 + 24);
  });

  it("counts an action of no known kind as nothing", () => {
    expect(actionSize({})).toBe(0);
  });
});
