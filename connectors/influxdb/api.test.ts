import { describe, expect, it } from 'vitest';
import { bodyMessage, droppedCount, retryAfter, unparsedLines, writeApi } from './api.js';
import { influxdbSinkConfig } from './spec.js';

const api = (config: Record<string, unknown>) =>
  writeApi(influxdbSinkConfig.parse({ url: 'http://h:8086', measurement: 'm', ...config }));
const answer = (status: number, body: unknown, headers: Record<string, string> = {}) => ({
  status,
  headers,
  body: typeof body === 'string' ? body : JSON.stringify(body),
});

describe('write answers', () => {
  it('1.x: names the lines that did not parse; "partial write:" means the others are stored', () => {
    const lines = ['m v=1 1000', 'm v= 1001', 'm v=2 1002', 'm w=3 1003 x'];
    // As InfluxDB 1.6 answered this body.
    const body = {
      error:
        "partial write: unable to parse 'm v= 1001': missing field value\nunable to parse 'm w=3 1003 x': point is invalid dropped=0",
    };
    expect(api({ database: 'd' }).interpret(answer(400, body), lines)).toEqual({
      kind: 'refused',
      message: body.error,
      named: new Map([
        [1, 'unable to parse the point: missing field value'],
        [3, 'unable to parse the point: point is invalid'],
      ]),
      othersWritten: true,
      dropped: 0,
    });
    // Nothing parsed: nothing stored.
    const none = api({ database: 'd' }).interpret(
      answer(400, { error: "unable to parse 'm v=': missing field value" }),
      ['m v='],
    );
    expect(none).toMatchObject({
      kind: 'refused',
      othersWritten: false,
      named: new Map([[0, 'unable to parse the point: missing field value']]),
    });
    // A type conflict: not known which others are stored.
    const conflict = api({ database: 'd' }).interpret(
      answer(400, {
        error:
          'partial write: field type conflict: input field "v" on measurement "n" is type string, already exists as type float dropped=2',
      }),
      ['a', 'b', 'c'],
    );
    expect(conflict).toMatchObject({
      kind: 'refused',
      othersWritten: undefined,
      dropped: 2,
      named: new Map(),
    });
  });

  it('2.x: 400 refused all (the first bad line named), 422 stored the others', () => {
    const v2 = api({ version: 2, org: 'o', bucket: 'b', token: 't' });
    expect(
      v2.interpret(
        answer(400, {
          code: 'invalid',
          message: 'unable to parse \'x,_field=a v=1 5\': cannot use reserved tag key "_field"',
        }),
        ['m v=1 4', 'x,_field=a v=1 5'],
      ),
    ).toEqual({
      kind: 'refused',
      message: 'unable to parse \'x,_field=a v=1 5\': cannot use reserved tag key "_field"',
      named: new Map([[1, 'unable to parse the point: cannot use reserved tag key "_field"']]),
      othersWritten: false,
      dropped: undefined,
    });
    expect(
      v2.interpret(
        answer(422, {
          code: 'unprocessable entity',
          message:
            'failure writing points to database: partial write: dropped 4 points outside retention policy of duration 24h0m0s dropped=4',
        }),
        ['a'],
      ),
    ).toMatchObject({ kind: 'refused', dropped: 4, othersWritten: undefined });
    expect(v2.interpret(answer(401, { code: 'unauthorized', message: 'unauthorized access' }), [])).toEqual({
      kind: 'credentials',
      status: 401,
      message: 'unauthorized access',
    });
    expect(v2.query).toEqual({ org: 'o', bucket: 'b', precision: 'us' });
    expect(v2.headers).toEqual({ authorization: 'Token t' });
  });

  it('3: line numbers of a partial write; one line with accept_partial=false', () => {
    const v3 = api({ version: 3, database: 'd', token: 't', precision: 'us' });
    expect(v3.query).toEqual({ db: 'd', precision: 'microsecond', accept_partial: 'true', no_sync: 'false' });
    expect(v3.headers).toEqual({ authorization: 'Bearer t' });
    const partial = {
      error: 'partial write of line protocol occurred',
      data: [{ original_line: 'home temp="hi" 1', line_number: 2, error_message: 'invalid column type' }],
    };
    expect(v3.interpret(answer(400, partial), ['a', 'b', 'c'])).toEqual({
      kind: 'refused',
      message: 'partial write of line protocol occurred',
      named: new Map([[1, 'invalid column type']]),
      othersWritten: true,
      dropped: undefined,
    });
    // At most 100 lines are listed: more may have been refused.
    const many = {
      ...partial,
      data: Array.from({ length: 100 }, (_, i) => ({ ...partial.data[0], line_number: i + 1 })),
    };
    expect(
      v3.interpret(
        answer(400, many),
        Array.from({ length: 150 }, () => 'x'),
      ),
    ).toMatchObject({ othersWritten: undefined });
    const strict = {
      error: 'parsing failed for write_lp endpoint',
      data: { original_line: 'x', line_number: 3, error_message: 'bad' },
    };
    expect(v3.interpret(answer(400, strict), ['a', 'b', 'c'])).toMatchObject({
      named: new Map([[2, 'bad']]),
      othersWritten: false,
    });
    expect(v3.interpret(answer(400, 'incoming write was empty'), [])).toMatchObject({
      kind: 'refused',
      named: new Map(),
    });
  });

  it('reads Retry-After as seconds or a date, and error texts from JSON or plain bodies', () => {
    expect(retryAfter('7')).toBe(7000);
    expect(retryAfter(undefined)).toBeUndefined();
    expect(retryAfter('soon')).toBeUndefined();
    const later = retryAfter(new Date(Date.now() + 60_000).toUTCString())!;
    expect(later).toBeGreaterThan(55_000);
    expect(later).toBeLessThanOrEqual(60_000);
    expect(bodyMessage(answer(502, '<html>bad gateway</html>'))).toBe('<html>bad gateway</html>');
    expect(bodyMessage(answer(503, ''))).toBe('HTTP 503');
    expect(droppedCount('... dropped=12')).toBe(12);
    expect(unparsedLines('no names here', ['a'])).toEqual(new Map());
  });
});
