/**
 * Command-line parsing for every script, with `node:util` parseArgs: unknown
 * options and stray arguments are usage errors (exit 2), `--help`/`-h` prints
 * the usage (exit 0). Each script declares its options and its usage text.
 */
import { parseArgs, type ParseArgsConfig } from "node:util";
import { nativeStackTraces } from "../stack/stackTraces";

type Options = NonNullable<ParseArgsConfig["options"]>;

export class UsageError extends Error {}

/** The `--help` request: the caller prints `usage` and exits 0. */
export class HelpRequested extends Error {}

/** Parses `argv` strictly; throws UsageError (message ends with the usage) or HelpRequested. */
export function parseCli<T extends Options>(argv: string[], options: T, usage: string): ReturnType<typeof parseArgs<{ args: string[]; options: T; strict: true; allowPositionals: false }>>["values"] {
  let parsed: { values: Record<string, unknown> };
  try {
    parsed = parseArgs({ args: argv, options: { ...options, help: { type: "boolean", short: "h" } }, strict: true, allowPositionals: false });
  } catch (e) {
    throw new UsageError(`${e instanceof Error ? e.message : String(e)}\n${usage}`);
  }
  if ((parsed.values as { help?: boolean }).help) throw new HelpRequested(usage);
  return parsed.values as never;
}

/**
 * Runs a script's main: usage errors print the message to stderr and exit 2, `--help` prints
 * the usage to stdout and exits 0, anything else thrown exits `failureCode` with the message.
 */
export function runCli(main: () => Promise<number>, failureCode: number, failurePrefix = ""): void {
  // The tools print messages, never stack traces: the fast formatting, also under ts-node (stack/stackTraces.ts).
  nativeStackTraces(true);
  main().then(
    (code) => process.exit(code),
    (e) => {
      if (e instanceof HelpRequested) {
        process.stdout.write(`${e.message}\n`);
        process.exit(0);
      }
      if (e instanceof UsageError) {
        process.stderr.write(`${e.message}\n`);
        process.exit(2);
      }
      process.stderr.write(`${failurePrefix}${e instanceof Error ? e.message : String(e)}\n`);
      process.exit(failureCode);
    },
  );
}
