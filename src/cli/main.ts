/** Entry point of the `sipwarden` program (bin/sipwarden.js imports this module). */
import { run } from './program.ts';

process.exitCode = await run(process.argv);
