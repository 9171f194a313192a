import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseCsv } from '../../../src/identity/users/csv.ts';
import { computeHa1s } from '../../../src/identity/users/ha1.ts';
import { parseUsersCsv } from '../../../src/identity/users/import-csv.ts';

const LIMITS = { maxRecords: 100, maxFields: 10, maxFieldLength: 100 };

test('CSV: quoted fields hold commas, quotes and line breaks; records know their first line', () => {
  const records = parseCsv('a,b\r\n"x, y","say ""hi"""\n\n"two\nlines",z\n', LIMITS);
  assert.deepEqual(records, [
    { line: 1, fields: ['a', 'b'] },
    { line: 2, fields: ['x, y', 'say "hi"'] },
    { line: 4, fields: ['two\nlines', 'z'] },
  ]);
});

test('CSV: an unclosed quote, a stray quote and too many records are errors with the line', () => {
  assert.throws(() => parseCsv('a\n"open\n', LIMITS), /line 2: a quoted field is not closed/);
  assert.throws(() => parseCsv('a\nb"c\n', LIMITS), /line 2: a quote inside an unquoted field/);
  assert.throws(() => parseCsv('a\n"b"c\n', LIMITS), /line 2: text after a closing quote/);
  assert.throws(() => parseCsv('a\nb\nc\n', { ...LIMITS, maxRecords: 2 }), /line 3: more than 2 records/);
  assert.throws(() => parseCsv('a,b,c\n', { ...LIMITS, maxFields: 2 }), /more than 2 fields/);
});

test('a good file with passwords gives users with their HA1s and ;-separated lists', () => {
  const result = parseUsersCsv(
    'user,domain,password,groups,roles,organisation,allowed_networks\n' +
      'Alice,Example.com,pw one,staff;sales,caller,ACME,10.0.0.0/8;192.0.2.1\n' +
      'bob,example.com,"pw, two",,,,\n',
  );
  assert.ok(result.ok, JSON.stringify(result));
  assert.equal(result.users.length, 2);
  assert.deepEqual(result.users[0], {
    user: 'alice',
    domain: 'example.com',
    ...computeHa1s('alice', 'example.com', 'pw one'),
    groups: ['staff', 'sales'],
    roles: ['caller'],
    organisation: 'ACME',
    allowedNetworks: ['10.0.0.0/8', '192.0.2.1/32'],
    enabled: true,
  });
  assert.equal(result.users[1]!.ha1Md5, computeHa1s('bob', 'example.com', 'pw, two').ha1Md5);
  assert.deepEqual(result.users[1]!.groups, []);
});

test('a file with HA1 columns keeps the given HA1s', () => {
  const md5 = 'ab'.repeat(16);
  const sha = 'cd'.repeat(32);
  const result = parseUsersCsv(
    `user,domain,ha1_md5,ha1_sha256,enabled\ncarol,example.com,${md5},${sha},false\n`,
  );
  assert.ok(result.ok, JSON.stringify(result));
  assert.equal(result.users[0]!.ha1Md5, md5);
  assert.equal(result.users[0]!.ha1Sha256, sha);
  assert.equal(result.users[0]!.enabled, false);
});

test('bad rows are all reported by line number, and no user comes back', () => {
  const result = parseUsersCsv(
    'user,domain,password,allowed_networks\n' +
      'alice,example.com,pw,\n' +
      'b@d,example.com,pw,\n' +
      '\n' +
      'carol,example.com,,10.0.0.0/99\n' +
      'alice,EXAMPLE.com,pw2,\n' +
      'dave,example.com\n',
  );
  assert.equal(result.ok, false);
  assert.deepEqual(result.ok ? [] : result.errors, [
    'line 3: user: "b@d" may hold only letters, digits and - _ . ! ~ * \' ( ) & = + $ , ; ? /',
    'line 5: password: must not be empty',
    'line 5: allowed networks: "10.0.0.0/99" is not an IP address or a CIDR network',
    'line 6: alice@example.com is on line 2 already',
    'line 7: 2 fields where the header has 4',
  ]);
});

test('a header without credentials, with both kinds, or with an unknown column is refused', () => {
  const errorsOf = (text: string): readonly string[] => {
    const result = parseUsersCsv(text);
    return result.ok ? [] : result.errors;
  };
  assert.deepEqual(errorsOf('user,domain\n'), [
    'line 1: the header needs a password column, or both ha1_md5 and ha1_sha256',
  ]);
  assert.deepEqual(errorsOf('user,domain,ha1_md5\n'), [
    'line 1: the header needs a password column, or both ha1_md5 and ha1_sha256',
  ]);
  assert.deepEqual(errorsOf('user,domain,password,ha1_md5\n'), [
    'line 1: the header has both password and HA1 columns: use one or the other',
  ]);
  assert.match(errorsOf('user,domain,password,colour\n')[0] ?? '', /^line 1: unknown column "colour"/);
  assert.deepEqual(errorsOf(''), ['the file is empty (a header row is needed)']);
});

test('the report is bounded: past 50 problems the rest are counted', () => {
  const rows = Array.from({ length: 80 }, (_, i) => `bad user ${i},example.com,pw`).join('\n');
  const result = parseUsersCsv(`user,domain,password\n${rows}\n`);
  assert.equal(result.ok, false);
  const errors = result.ok ? [] : result.errors;
  assert.equal(errors.length, 51);
  assert.equal(errors[50], '... and 30 more');
});
