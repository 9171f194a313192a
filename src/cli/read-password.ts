/**
 * Where `sipwarden users` reads a password from: never the command line (other users of the
 * machine see it in the process list, the shell keeps it in its history). Either the
 * terminal, without echo, asked twice; or the first line of stdin (`--password-stdin`), for
 * scripts: `printf '%s\n' "$PW" | sipwarden users add alice --password-stdin`.
 */
import { CliError, EXIT_FAILURE, EXIT_USAGE } from './cli-error.ts';

/** More than any password (user-fields.ts allows 256 bytes): a bound on what is read. */
const MAX_INPUT_BYTES = 4096;

/** The first line of stdin, without its line end. */
export async function passwordFromStdin(stdin: NodeJS.ReadableStream = process.stdin): Promise<string> {
  let text = '';
  for await (const chunk of stdin) {
    text += typeof chunk === 'string' ? chunk : (chunk as Buffer).toString('utf8');
    const end = text.indexOf('\n');
    if (end !== -1) {
      text = text.slice(0, end);
      break;
    }
    if (text.length > MAX_INPUT_BYTES)
      throw new CliError(EXIT_USAGE, ['--password-stdin: the first line is too long']);
  }
  if (text.endsWith('\r')) text = text.slice(0, -1);
  if (text.length === 0) throw new CliError(EXIT_USAGE, ['--password-stdin: stdin has no password']);
  return text;
}

/** Asks on the terminal twice without echo; the two must match. */
export async function passwordFromTerminal(who: string): Promise<string> {
  if (!process.stdin.isTTY) {
    throw new CliError(EXIT_USAGE, [
      'no terminal to ask for the password on: use --password-stdin to read it from stdin',
    ]);
  }
  const first = await prompt(`Password for ${who}: `);
  const again = await prompt('Again: ');
  if (first !== again) throw new CliError(EXIT_USAGE, ['the two passwords differ']);
  return first;
}

function prompt(question: string): Promise<string> {
  const input = process.stdin;
  const output = process.stderr;
  // Echo off before the question shows: an answer typed (or pasted) at once is not echoed.
  input.setRawMode(true);
  output.write(question);
  input.setEncoding('utf8');
  input.resume();
  return new Promise((resolve, reject) => {
    let characters: string[] = [];
    const finish = (error?: Error): void => {
      input.removeListener('data', onData);
      input.setRawMode(false);
      input.pause();
      output.write('\n');
      if (error === undefined) resolve(characters.join(''));
      else reject(error);
    };
    const onData = (chunk: string): void => {
      for (const character of chunk) {
        if (character === '\r' || character === '\n') return finish();
        // Ctrl-C, or Ctrl-D on an empty line: give up.
        if (character === '\u0003' || (character === '\u0004' && characters.length === 0)) {
          return finish(new CliError(EXIT_FAILURE, ['cancelled']));
        }
        if (character === '\u007f' || character === '\b') characters = characters.slice(0, -1);
        else if (character === '\u0015')
          characters = []; // Ctrl-U: erase the line
        else if (character >= ' ') characters.push(character);
        if (characters.length > MAX_INPUT_BYTES) {
          return finish(new CliError(EXIT_USAGE, ['the password is too long']));
        }
      }
    };
    input.on('data', onData);
  });
}
