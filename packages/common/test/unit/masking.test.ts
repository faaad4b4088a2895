import { MASK, maskSecretsInText, safeText, stripControlCharacters } from '../../src/core';

describe('maskSecretsInText, the forms registries echo back', () => {
  it.each([
    ['Authorization: Basic dXNlcjpodW50ZXIy', 'Authorization: Basic ***'],
    ['{"errors":[{"message":"bad header authorization: bearer eyJhbGciOiJIUzI1NiJ9.payload.sig"}]}', 'bearer ***'],
    ['fetch https://robot:hunter2@registry.example.com/v2/', `https://${MASK}@registry.example.com/v2/`],
    ['AWS_SECRET_ACCESS_KEY=wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY rest', `AWS_SECRET_ACCESS_KEY=${MASK} rest`],
    ['AWS_SESSION_TOKEN=FwoGZXIvYXdzEBYaDH', `AWS_SESSION_TOKEN=${MASK}`],
    ['GET https://s3.example/x?X-Amz-Signature=abcdef&other=1', `X-Amz-Signature=${MASK}&other=1`],
  ])('%s', (text, expected) => {
    const masked = maskSecretsInText(text);
    expect(masked).toContain(expected);
    expect(masked).not.toMatch(/hunter2|dXNlcjpodW50ZXIy|eyJhbGciOiJIUzI1NiJ9|wJalrXUtnFEMI|FwoGZXIvYXdzEBYaDH|abcdef/);
  });

  it('keeps ordinary registry messages', () => {
    const text = 'manifest blob unknown: blob unknown to registry (sha256:abc) at http://127.0.0.1:5000/v2/a/b';
    expect(maskSecretsInText(text)).toBe(text);
  });
});

describe('stripControlCharacters', () => {
  it('removes escape sequences, carriage returns and direction overrides, keeping tabs and newlines', () => {
    expect(stripControlCharacters('a\u001b]0;pwned\u0007b\rc\u202ed\te\nf\u009bg')).toBe('a?]0;pwned?b?c?d\te\nf?g');
  });

  it('safeText masks and strips at once', () => {
    expect(safeText('\u001b[2J Bearer abcdefghijkl')).toBe(`?[2J Bearer ${MASK}`);
  });
});
