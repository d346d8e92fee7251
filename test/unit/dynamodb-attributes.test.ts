/**
 * `dynamodb:Attributes` as the IAM gateway derives it (test/support/dynamodb-attributes.ts):
 * every top-level name a request names, however it names it, so a policy that refuses
 * `expiresAt` cannot be passed by hiding it behind a placeholder, a nested path or a legacy
 * parameter; and nothing for the operations AWS documents none for.
 */
import { describe, expect, it } from 'vitest';
import { attributesFor } from '../support/dynamodb-attributes.js';

const key = { pk: { S: 'tokens#a' }, sk: { S: 'TK#1' } };

describe('attributesFor', () => {
  it.each([
    [
      'an item and its condition',
      'PutItem',
      {
        Item: { ...key, seq: { N: '1' }, expiresAt: { N: '1' } },
        ConditionExpression: 'attribute_not_exists(#pk)',
        ExpressionAttributeNames: { '#pk': 'pk' },
      },
      ['pk', 'sk', 'seq', 'expiresAt'],
    ],
    [
      'an update behind a placeholder, next to the spend counter',
      'UpdateItem',
      {
        Key: key,
        UpdateExpression: 'ADD spent :c SET #e = :t',
        ConditionExpression: 'digest = :d AND spent <= :max',
        ExpressionAttributeNames: { '#e': 'expiresAt' },
      },
      ['pk', 'sk', 'spent', 'expiresAt', 'digest'],
    ],
    [
      'every clause, functions and nested paths (top-level names only)',
      'UpdateItem',
      {
        Key: key,
        UpdateExpression:
          'set a.#b = if_not_exists(c, :z) + :one, d = list_append(d, :l) REMOVE e[0].f DELETE g :s ADD #h :n',
        ConditionExpression: 'size(i) > :n AND NOT begins_with(#j.k, :p) OR attribute_type(l, :t)',
        ExpressionAttributeNames: { '#b': 'expiresAt', '#h': 'h', '#j': 'j' },
      },
      ['pk', 'sk', 'a', 'c', 'd', 'e', 'g', 'h', 'i', 'j', 'l'],
    ],
    [
      'the legacy parameters',
      'UpdateItem',
      {
        Key: key,
        AttributeUpdates: { expiresAt: { Action: 'PUT', Value: { N: '1' } } },
        Expected: { digest: { Value: { S: 'x' } } },
      },
      ['pk', 'sk', 'expiresAt', 'digest'],
    ],
    [
      'a read with a projection',
      'Query',
      {
        KeyConditionExpression: '#pk = :pk AND begins_with(#sk, :prefix)',
        ProjectionExpression: 'sk, exp',
        ExpressionAttributeNames: { '#pk': 'pk', '#sk': 'sk' },
      },
      ['sk', 'exp', 'pk'],
    ],
    ['a get of a key', 'GetItem', { Key: key, AttributesToGet: ['digest'] }, ['pk', 'sk', 'digest']],
  ])('names %s', (_name, operation, input, expected) => {
    expect(attributesFor(operation, input)?.sort()).toEqual([...expected].sort());
  });

  it.each(['BatchWriteItem', 'BatchGetItem', 'TransactWriteItems', 'TransactGetItems', 'DescribeTable'])(
    'leaves %s without the key, as AWS documents none',
    (operation) => {
      expect(attributesFor(operation, { RequestItems: {}, TransactItems: [] })).toBeUndefined();
    },
  );

  it.each([
    [
      'an unknown placeholder',
      { UpdateExpression: 'SET #e = :t' },
      'UpdateExpression: #e is not in ExpressionAttributeNames',
    ],
    [
      'a character it cannot read',
      { UpdateExpression: 'SET a = :t; b' },
      'UpdateExpression: cannot read "; b" at 10',
    ],
    ['an expression that is not a string', { ConditionExpression: 1 }, 'ConditionExpression is not a string'],
  ])('throws on %s, so the gateway refuses the request', (_name, input, message) => {
    expect(() => attributesFor('UpdateItem', { Key: key, ...input })).toThrow(new TypeError(message));
  });
});
