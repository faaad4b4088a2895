declare module 'picomatch/posix' {
  interface PicomatchOptions {
    dot?: boolean;
    nobrace?: boolean;
    noextglob?: boolean;
    strictBrackets?: boolean;
  }
  function picomatch(glob: string, options?: PicomatchOptions): (input: string) => boolean;
  export = picomatch;
}
