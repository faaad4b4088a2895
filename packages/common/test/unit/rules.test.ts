import {
  ValidationError,
  isRepositorySelected,
  isTagSelected,
  mapRepositoryName,
  parseReplicationConfig,
  parseReplicationConfigJson,
  type ReplicationConfigInput,
} from '../../src';

const DIGEST_TAG = `sha256-${'c'.repeat(64)}`;

describe('replication configuration', () => {
  it('defaults to everything, no renames, no deletes, tagless pushes dropped', () => {
    expect(parseReplicationConfigJson(undefined)).toEqual({
      repositories: { include: [], exclude: [] },
      tags: { include: [], exclude: [] },
      mapping: { repositories: {}, prefixes: [] },
      deletes: false,
      taglessPushes: false,
    });
  });

  it('expands the short filter forms', () => {
    const config = parseReplicationConfig({
      repositories: { include: ['prefix:team/', 'regex:^x$', 'app-*', { type: 'wildcard', pattern: 'b/**' }] },
    });
    expect(config.repositories.include).toEqual([
      { type: 'prefix', pattern: 'team/' },
      { type: 'regex', pattern: '^x$' },
      { type: 'wildcard', pattern: 'app-*' },
      { type: 'wildcard', pattern: 'b/**' },
    ]);
  });

  it.each([
    [{ repositories: { include: ['regex:('] } }, 'repositories.include.0.pattern: is not a valid regular expression'],
    [{ tags: { exclude: [{ type: 'glob', pattern: 'x' }] } }, 'tags.exclude.0.type'],
    [{ deletes: 'yes' }, 'deletes: Invalid input: expected boolean'],
    [{ mapping: { prefixes: [{ from: '', to: 'x/' }] } }, 'mapping.prefixes.0.from: must not be empty'],
  ])('rejects %j naming the field', (input, message) => {
    expect(() => parseReplicationConfig(input)).toThrow(ValidationError);
    expect(() => parseReplicationConfig(input)).toThrow(message);
  });

  it.each([
    [{ repository: { include: ['team/*'] } }, 'repository: is not a known key (did you mean "repositories"?)'],
    [{ delete: true }, 'delete: is not a known key (did you mean "deletes"?)'],
    [{ repositories: { inclde: ['a'] } }, 'repositories.inclde: is not a known key (did you mean "include"?)'],
    [{ mapping: { prefixes: [{ from: 'a/', too: 'b/' }] } }, 'mapping.prefixes.0.too: is not a known key'],
    [{ tags: { include: [{ type: 'prefix', pattern: 'v', extra: 1 }] } }, 'tags.include.0.extra: is not a known key'],
    [{ colour: 'blue' }, /colour: is not a known key$/],
  ])('rejects the unknown key in %j with its path and the closest known key', (input, message) => {
    expect(() => parseReplicationConfig(input)).toThrow(ValidationError);
    expect(() => parseReplicationConfig(input)).toThrow(message);
  });

  it('accepts "$schema" for editors', () => {
    expect(parseReplicationConfig({ $schema: './replication-config.schema.json', deletes: true }).deletes).toBe(true);
  });

  it('rejects malformed JSON', () => {
    expect(() => parseReplicationConfigJson('{deletes:true}')).toThrow(
      'invalid replication configuration: (root): is not valid JSON',
    );
  });
});

type Case = [description: string, config: ReplicationConfigInput, name: string, expected: boolean];

describe('repository filters', () => {
  const cases: Case[] = [
    ['no filter selects all', {}, 'anything/at/all', true],
    ['prefix match', { repositories: { include: ['prefix:team/'] } }, 'team/app', true],
    ['prefix miss', { repositories: { include: ['prefix:team/'] } }, 'teams/app', false],
    ['wildcard * stays in one component', { repositories: { include: ['team/*'] } }, 'team/app', true],
    ['wildcard * does not cross /', { repositories: { include: ['team/*'] } }, 'team/sub/app', false],
    ['wildcard ** crosses /', { repositories: { include: ['team/**'] } }, 'team/sub/app', true],
    ['wildcard ? is one character', { repositories: { include: ['app-?'] } }, 'app-1', true],
    ['wildcard ? is not two', { repositories: { include: ['app-?'] } }, 'app-12', false],
    ['wildcard dots are literal', { repositories: { include: ['a.b'] } }, 'axb', false],
    ['regex', { repositories: { include: ['regex:^(web|api)/'] } }, 'api/server', true],
    ['regex miss', { repositories: { include: ['regex:^(web|api)/'] } }, 'db/server', false],
    [
      'exclude wins over include',
      { repositories: { include: ['prefix:team/'], exclude: ['team/secret-*'] } },
      'team/secret-x',
      false,
    ],
    ['glob class [0-9]', { repositories: { include: ['team/app[0-9]'] } }, 'team/app7', true],
    ['glob class [0-9] misses a letter', { repositories: { include: ['team/app[0-9]'] } }, 'team/appx', false],
    ['glob braces {a,b}', { repositories: { include: ['{api,web}/*'] } }, 'web/server', true],
    ['glob braces {a,b} miss', { repositories: { include: ['{api,web}/*'] } }, 'db/server', false],
    ['glob braces are not the text', { repositories: { include: ['{api,web}/*'] } }, 'api,web/server', false],
    ['exclude alone', { repositories: { exclude: ['prefix:tmp/'] } }, 'tmp/x', false],
    ['exclude alone leaves the rest', { repositories: { exclude: ['prefix:tmp/'] } }, 'prod/x', true],
  ];
  it.each(cases)('%s', (_d, config, name, expected) => {
    expect(isRepositorySelected(parseReplicationConfig(config), name)).toBe(expected);
  });
});

describe('tag filters', () => {
  const cases: Case[] = [
    ['no filter selects all', {}, 'latest', true],
    ['include v*', { tags: { include: ['v*'] } }, 'v1.2.3', true],
    ['include v* misses latest', { tags: { include: ['v*'] } }, 'latest', false],
    ['exclude *-dev', { tags: { exclude: ['*-dev'] } }, 'v1-dev', false],
    ['glob v[0-9]* matches v10.2', { tags: { include: ['v[0-9]*'] } }, 'v10.2', true],
    ['glob v[0-9]* misses vx', { tags: { include: ['v[0-9]*'] } }, 'vx', false],
    ['glob v[0-9]* misses v (one digit at least)', { tags: { include: ['v[0-9]*'] } }, 'v', false],
    ['glob [0-9] is one character of the class', { tags: { include: ['v[0-9]*'] } }, 'v-1', false],
    ['glob {a,b}', { tags: { include: ['{stable,latest}'] } }, 'latest', true],
    ['glob v{1,2}.*', { tags: { include: ['v{1,2}.*'] } }, 'v2.0', true],
    ['glob v{1,2}.* misses v3', { tags: { include: ['v{1,2}.*'] } }, 'v3.0', false],
    ['regex semver', { tags: { include: ['regex:^v\\d+\\.\\d+\\.\\d+$'] } }, 'v10.2.0', true],
    ['regex semver miss', { tags: { include: ['regex:^v\\d+\\.\\d+\\.\\d+$'] } }, 'v10.2', false],
    ['referrer tags follow their subject', { tags: { include: ['v*'] } }, `${DIGEST_TAG}.sig`, true],
    ['referrer index tag too', { tags: { include: ['v*'], exclude: ['sha256-*'] } }, DIGEST_TAG, true],
  ];
  it.each(cases)('%s', (_d, config, tag, expected) => {
    expect(isTagSelected(parseReplicationConfig(config), tag)).toBe(expected);
  });
});

describe('repository name mapping', () => {
  const config = parseReplicationConfig({
    mapping: {
      repositories: { 'legacy/app': 'apps/legacy', 'team/special': 'special' },
      prefixes: [
        { from: 'team/', to: 'mirror/team/' },
        { from: 'team/platform/', to: 'platform/' },
        { from: 'strip/', to: '' },
      ],
    },
  });
  it.each([
    ['unmapped names stay', 'other/app', 'other/app'],
    ['exact rename', 'legacy/app', 'apps/legacy'],
    ['exact rename beats prefix', 'team/special', 'special'],
    ['prefix rewrite', 'team/app', 'mirror/team/app'],
    ['longest prefix wins', 'team/platform/api', 'platform/api'],
    ['prefix removed', 'strip/app', 'app'],
  ])('%s: %s -> %s', (_d, source, destination) => {
    expect(mapRepositoryName(config, source)).toBe(destination);
  });

  it.each([
    ['a mapping to upper case', { repositories: { app: 'App' } }, 'app', /maps to "App".*lowercase/],
    ['a prefix that leaves nothing', { prefixes: [{ from: 'app', to: '' }] }, 'app', /maps to "".*empty/],
    [
      'a prefix that leaves a bad separator',
      { prefixes: [{ from: 'team/', to: 'x//' }] },
      'team/app',
      /not a valid repository name/,
    ],
  ])('rejects %s', (_d, mapping, source, message) => {
    expect(() => mapRepositoryName(parseReplicationConfig({ mapping }), source)).toThrow(message);
  });
});
