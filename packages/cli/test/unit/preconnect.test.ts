import { copyRegistryHosts } from '../../src/preconnect';

describe('the registries a copy connects to ahead of time', () => {
  it('are the hosts of `copy SOURCE DESTINATION`, ports included', () => {
    expect(copyRegistryHosts(['copy', 'src.example.com/app:v1', '127.0.0.1:5000/mirror/app:v1'], {})).toEqual([
      'src.example.com',
      '127.0.0.1:5000',
    ]);
    expect(copyRegistryHosts(['copy', 'localhost/a:v1', 'localhost:5001/b@sha256:' + 'a'.repeat(64)], {})).toEqual([
      'localhost',
      'localhost:5001',
    ]);
  });

  it('are none for other commands, options first, references without a registry, or a proxy', () => {
    expect(copyRegistryHosts(['sync', 'a.example.com/x', 'b.example.com/y'], {})).toEqual([]);
    expect(copyRegistryHosts(['copy', '--debug', 'a.example.com/x:1', 'b.example.com/y:1'], {})).toEqual([]);
    expect(copyRegistryHosts(['copy', 'a.example.com/x:1'], {})).toEqual([]);
    expect(copyRegistryHosts(['copy', 'library/ubuntu:24.04', 'b.example.com/y:1'], {})).toEqual(['b.example.com']);
    expect(copyRegistryHosts(['copy', 'ubuntu', 'b.example.com/y:1'], {})).toEqual([]);
    for (const name of ['HTTPS_PROXY', 'http_proxy', 'ALL_PROXY'])
      expect(
        copyRegistryHosts(['copy', 'a.example.com/x:1', 'b.example.com/y:1'], { [name]: 'http://proxy:3128' }),
      ).toEqual([]);
  });
});
