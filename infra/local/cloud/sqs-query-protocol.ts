/**
 * SQS's query protocol (form-encoded `Action=…`, XML answers), which every SQS client spoke until late 2023
 * and older ones still do (JS SDK v2 before 2.1491, Go v1, Java v1, older botocore and CLIs), translated to
 * and from the AWS JSON 1.0 protocol that the emulator serves. The shapes follow the SQS API reference
 * (https://docs.aws.amazon.com/AWSSimpleQueueService/latest/APIReference/) in its 2012-11-05 query form:
 * lists are `Name.N`, maps `Name.N.Name`/`Name.N.Value`, and answers flatten lists into repeated elements.
 */

export const SQS_QUERY_NAMESPACE = "http://queue.amazonaws.com/doc/2012-11-05/";

/** A query request translated to JSON 1.0: its action (for X-Amz-Target) and its JSON input. */
export interface TranslatedRequest {
  readonly action: string;
  readonly input: Record<string, unknown>;
}

type Tree = { [key: string]: Tree | string };

/** Input members that the JSON protocol types as numbers (the query protocol sends every value as text). */
const NUMBER_MEMBERS = new Set([
  "DelaySeconds",
  "MaxNumberOfMessages",
  "MaxResults",
  "VisibilityTimeout",
  "WaitTimeSeconds",
]);

/** Query list members (`Name.N`) and the JSON member each becomes. */
const LIST_MEMBERS: Readonly<Record<string, string>> = {
  AttributeName: "AttributeNames",
  MessageAttributeName: "MessageAttributeNames",
  MessageSystemAttributeName: "MessageSystemAttributeNames",
  TagKey: "TagKeys",
  AWSAccountId: "AWSAccountIds",
  ActionName: "Actions",
};

/** Reads a form-encoded SQS request (body, or the URL's query for GET) into its JSON 1.0 equivalent. */
export function translateQueryRequest(form: URLSearchParams): TranslatedRequest {
  const tree: Tree = {};
  for (const [key, value] of form) {
    const path = key.split(".");
    let node = tree;
    for (const [index, part] of path.entries()) {
      if (index === path.length - 1) node[part] = value;
      else {
        const next = node[part];
        const child: Tree = typeof next === "object" ? next : {};
        node[part] = child;
        node = child;
      }
    }
  }
  const action = typeof tree.Action === "string" ? tree.Action : "";
  const { Action: _action, Version: _version, ...members } = tree;
  return { action, input: translateMembers(members, action) };
}

function translateMembers(members: Tree, action: string): Record<string, unknown> {
  const input: Record<string, unknown> = {};
  for (const [name, value] of Object.entries(members)) {
    if (typeof value === "string") {
      input[name] = NUMBER_MEMBERS.has(name) ? Number(value) : value;
    } else if (name === "Attribute") {
      input.Attributes = nameValueMap(value, "Name", "Value", (text) => text);
    } else if (name === "MessageAttribute" || name === "MessageSystemAttribute") {
      input[`${name}s`] = nameValueMap(value, "Name", "Value", (attribute) => attribute);
    } else if (name === "Tag") {
      // CreateQueue's JSON member is lower-case `tags`; TagQueue's is `Tags`.
      input[action === "CreateQueue" ? "tags" : "Tags"] = nameValueMap(value, "Key", "Value", (text) => text);
    } else if (LIST_MEMBERS[name]) {
      input[LIST_MEMBERS[name]] = ordered(value).filter((item) => typeof item === "string");
    } else if (name.endsWith("BatchRequestEntry")) {
      input.Entries = ordered(value).map((entry) =>
        typeof entry === "object" ? translateMembers(entry, action) : entry,
      );
    } else {
      input[name] = translateMembers(value, action);
    }
  }
  return input;
}

/** `Name.1.Name=a&Name.1.Value=b` as `{ a: b }`; message attribute values keep their structure. */
function nameValueMap<T>(
  members: Tree,
  keyMember: string,
  valueMember: string,
  convert: (value: string | Tree) => T,
): Record<string, T | Record<string, unknown>> {
  const map: Record<string, T | Record<string, unknown>> = {};
  for (const entry of ordered(members)) {
    if (typeof entry !== "object") continue;
    const key = entry[keyMember];
    const value = entry[valueMember];
    if (typeof key !== "string" || value === undefined) continue;
    map[key] = typeof value === "object" ? attributeValue(value) : convert(value);
  }
  return map;
}

function attributeValue(value: Tree): Record<string, unknown> {
  const result: Record<string, unknown> = {};
  for (const [name, member] of Object.entries(value)) {
    if (typeof member === "string") result[name] = member;
    else if (name === "StringListValue" || name === "BinaryListValue") result[`${name}s`] = ordered(member);
  }
  return result;
}

/** The members of a `Name.N` list in the order of N. */
function ordered(members: Tree): Array<string | Tree> {
  return Object.entries(members)
    .filter(([index]) => /^\d+$/.test(index))
    .sort(([a], [b]) => Number(a) - Number(b))
    .map(([, value]) => value);
}

/** JSON output lists and the element each item becomes in the query answer (lists are flattened). */
const FLATTENED_LISTS: Readonly<Record<string, Readonly<Record<string, string>>>> = {
  SendMessageBatch: { Successful: "SendMessageBatchResultEntry", Failed: "BatchResultErrorEntry" },
  DeleteMessageBatch: { Successful: "DeleteMessageBatchResultEntry", Failed: "BatchResultErrorEntry" },
  ChangeMessageVisibilityBatch: {
    Successful: "ChangeMessageVisibilityBatchResultEntry",
    Failed: "BatchResultErrorEntry",
  },
  ReceiveMessage: { Messages: "Message" },
  ListQueues: { QueueUrls: "QueueUrl" },
  ListDeadLetterSourceQueues: { queueUrls: "QueueUrl" },
};

/** The XML answer of a successful query request, from the emulator's JSON answer. */
export function queryResponseXml(action: string, output: Record<string, unknown>, requestId: string): string {
  const result = serializeMembers(output, FLATTENED_LISTS[action] ?? {});
  return (
    `<?xml version="1.0"?><${action}Response xmlns="${SQS_QUERY_NAMESPACE}">` +
    (result ? `<${action}Result>${result}</${action}Result>` : "") +
    `<ResponseMetadata><RequestId>${requestId}</RequestId></ResponseMetadata></${action}Response>`
  );
}

function serializeMembers(members: Record<string, unknown>, lists: Readonly<Record<string, string>>): string {
  let xml = "";
  for (const [name, value] of Object.entries(members)) {
    if (value === undefined || value === null) continue;
    if (Array.isArray(value)) {
      const element = lists[name] ?? name;
      for (const item of value)
        xml +=
          typeof item === "object" && item !== null
            ? `<${element}>${serializeMembers(item as Record<string, unknown>, {})}</${element}>`
            : `<${element}>${escapeXml(String(item))}</${element}>`;
    } else if (name === "Attributes" && typeof value === "object") {
      for (const [key, text] of Object.entries(value as Record<string, unknown>))
        xml += `<Attribute><Name>${escapeXml(key)}</Name><Value>${escapeXml(String(text))}</Value></Attribute>`;
    } else if (name === "Tags" && typeof value === "object") {
      for (const [key, text] of Object.entries(value as Record<string, unknown>))
        xml += `<Tag><Key>${escapeXml(key)}</Key><Value>${escapeXml(String(text))}</Value></Tag>`;
    } else if (name === "MessageAttributes" && typeof value === "object") {
      for (const [key, attribute] of Object.entries(value as Record<string, Record<string, unknown>>))
        xml += `<MessageAttribute><Name>${escapeXml(key)}</Name><Value>${serializeMembers(attribute, {
          StringListValues: "StringListValue",
          BinaryListValues: "BinaryListValue",
        })}</Value></MessageAttribute>`;
    } else if (typeof value === "object") {
      xml += `<${name}>${serializeMembers(value as Record<string, unknown>, {})}</${name}>`;
    } else {
      xml += `<${name}>${escapeXml(String(value))}</${name}>`;
    }
  }
  return xml;
}

/**
 * The XML error answer. The query error code comes from the emulator's `x-amzn-query-error` header
 * (`AWS.SimpleQueueService.NonExistentQueue;Sender`), which AWS's JSON protocol sends for exactly this
 * purpose; else from the JSON `__type`.
 */
export function queryErrorXml(
  jsonError: { readonly __type?: string; readonly message?: string },
  queryErrorHeader: string | undefined,
  requestId: string,
): string {
  const [headerCode, headerFault] = (queryErrorHeader ?? "").split(";");
  const code = headerCode || (jsonError.__type ?? "InternalError").replace(/^.*#/, "");
  const fault = headerFault === "Receiver" ? "Receiver" : "Sender";
  return (
    `<?xml version="1.0"?><ErrorResponse xmlns="${SQS_QUERY_NAMESPACE}"><Error><Type>${fault}</Type>` +
    `<Code>${escapeXml(code)}</Code><Message>${escapeXml(jsonError.message ?? "")}</Message><Detail/></Error>` +
    `<RequestId>${requestId}</RequestId></ErrorResponse>`
  );
}

export function escapeXml(text: string): string {
  // A literal carriage return would reach the client as a line feed (XML end-of-line handling), so SQS
  // sends it as a character reference; so does this.
  return text.replace(/[&<>"'\r]/g, (char) => XML_ENTITIES[char] ?? char);
}

const XML_ENTITIES: Readonly<Record<string, string>> = {
  "&": "&amp;",
  "<": "&lt;",
  ">": "&gt;",
  '"': "&quot;",
  "'": "&apos;",
  "\r": "&#xD;",
};
