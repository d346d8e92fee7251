/**
 * `dynamodb:Attributes` as IAM sees it: the top-level attribute names a DynamoDB request
 * names ("Using IAM policy conditions for fine-grained access control", DynamoDB Developer
 * Guide). The guide lists the request parameters the key is taken from (`AttributesToGet`,
 * `AttributeUpdates`, `Expected`, `Item`, `ScanFilter`) and shows that the attributes of
 * expressions count too ("These attributes can be read, written, or evaluated in a
 * conditional write or scan filter"; its `UpdateItem` example that "prevents updates on
 * certain attributes" relies on the `UpdateExpression`), and that the primary key attributes
 * are always among them ("you must specify the names of all of the primary key and index
 * key attributes"). So for one request this returns the union of:
 * - the names in `Key`, `Item`, `AttributeUpdates`, `Expected`, `KeyConditions`,
 *   `QueryFilter`, `ScanFilter`, and the values of `AttributesToGet`;
 * - the top-level names in `UpdateExpression`, `ConditionExpression`, `ProjectionExpression`,
 *   `FilterExpression` and `KeyConditionExpression`, `#placeholders` resolved through
 *   `ExpressionAttributeNames` (`a.b[0]` names `a`; `#n.#m` names what `#n` stands for).
 *
 * Limits, each chosen against the caller: the attributes a request makes DynamoDB *return*
 * (`ReturnValues: ALL_OLD`) are not counted (AWS governs those with `dynamodb:ReturnValues`
 * and `dynamodb:Select`); and for the batch and transaction operations AWS does not document
 * the key at all, so `attributesFor` returns undefined for them and the gateway leaves the
 * key out, the reading under which `ForAllValues:` conditions on it hold vacuously. An
 * expression this parser cannot read throws, and the gateway refuses the request.
 */

type JsonObject = Record<string, unknown>;

/** The operations whose request carries `dynamodb:Attributes`, as the guide documents it. */
const SINGLE_ITEM_OPERATIONS = new Set(['GetItem', 'PutItem', 'UpdateItem', 'DeleteItem', 'Query', 'Scan']);
const MAP_PARAMETERS = [
  'Key',
  'Item',
  'AttributeUpdates',
  'Expected',
  'KeyConditions',
  'QueryFilter',
  'ScanFilter',
] as const;
const EXPRESSION_PARAMETERS = [
  'UpdateExpression',
  'ConditionExpression',
  'ProjectionExpression',
  'FilterExpression',
  'KeyConditionExpression',
] as const;
/** Clause keywords and operators (case-insensitive in DynamoDB expressions). */
const KEYWORDS = new Set(['set', 'remove', 'add', 'delete', 'and', 'or', 'not', 'between', 'in']);
/** Function names ("These function names are case-sensitive"), when a `(` follows. */
const FUNCTIONS = new Set([
  'attribute_exists',
  'attribute_not_exists',
  'attribute_type',
  'begins_with',
  'contains',
  'size',
  'if_not_exists',
  'list_append',
]);
/** One token: space, a `#name`, a `:value`, a bare name, a list index, or punctuation. */
const TOKEN = /\s+|#[A-Za-z0-9_]+|:[A-Za-z0-9_]+|[A-Za-z_][A-Za-z0-9_]*|\[\d+\]|<>|<=|>=|[=<>(),.+-]/y;

/**
 * The set `dynamodb:Attributes` holds for a request, or undefined when AWS documents none
 * for `operation` (BatchGetItem, BatchWriteItem, TransactGetItems, TransactWriteItems and
 * every table-level call). Throws a TypeError for an expression it cannot read.
 * @example
 * attributesFor('UpdateItem', { Key: { pk, sk }, UpdateExpression: 'ADD spent :c SET #e = :t',
 *   ExpressionAttributeNames: { '#e': 'expiresAt' } }) // ['pk', 'sk', 'spent', 'expiresAt']
 */
export function attributesFor(operation: string, input: JsonObject): string[] | undefined {
  if (!SINGLE_ITEM_OPERATIONS.has(operation)) return undefined;
  const names = new Set<string>();
  for (const parameter of MAP_PARAMETERS) {
    const value = input[parameter];
    if (isObject(value)) for (const name of Object.keys(value)) names.add(name);
  }
  if (Array.isArray(input.AttributesToGet))
    for (const name of input.AttributesToGet) if (typeof name === 'string') names.add(name);
  const placeholders = isObject(input.ExpressionAttributeNames) ? input.ExpressionAttributeNames : {};
  for (const parameter of EXPRESSION_PARAMETERS) {
    const expression = input[parameter];
    if (expression === undefined) continue;
    if (typeof expression !== 'string') throw new TypeError(`${parameter} is not a string`);
    for (const name of topLevelNames(expression, placeholders, parameter)) names.add(name);
  }
  return [...names];
}

/** The top-level attribute names an expression reads or writes. */
export function topLevelNames(
  expression: string,
  placeholders: JsonObject,
  parameter = 'the expression',
): string[] {
  const tokens: string[] = [];
  TOKEN.lastIndex = 0;
  while (TOKEN.lastIndex < expression.length) {
    const at = TOKEN.lastIndex;
    const match = TOKEN.exec(expression);
    if (match === null)
      throw new TypeError(`${parameter}: cannot read "${expression.slice(at, at + 20)}" at ${at}`);
    if (match[0].trim() !== '') tokens.push(match[0]);
  }
  const names: string[] = [];
  tokens.forEach((token, index) => {
    const previous = tokens[index - 1];
    // A name after "." is a nested path element, not a top-level attribute.
    if (previous === '.') return;
    if (token.startsWith('#')) {
      const name = placeholders[token];
      if (typeof name !== 'string')
        throw new TypeError(`${parameter}: ${token} is not in ExpressionAttributeNames`);
      names.push(name);
      return;
    }
    if (!/^[A-Za-z_]/.test(token)) return;
    if (KEYWORDS.has(token.toLowerCase())) return;
    if (FUNCTIONS.has(token) && tokens[index + 1] === '(') return;
    names.push(token);
  });
  return names;
}

function isObject(value: unknown): value is JsonObject {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
