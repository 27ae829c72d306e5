/**
 * How the compiled program has stack traces formatted.
 *
 * `pulumi up` and `pulumi preview` start a Node.js program with
 * source-map-support registered (@pulumi/pulumi's cmd/run requires
 * `source-map-support/register`), and the SDK takes a stack trace
 * (`new Error().stack`) for every promise behind every Output it makes
 * (runtime/debuggable.js), kept only to be printed when the program leaks
 * promises and PULUMI_DEBUG_PROMISE_LEAKS is set. At 2,000 compute hosts
 * (then about 250,000 such promises; 130,874 counted today) the evaluation
 * took 40 s and 1.59 GB with source-map-support formatting those traces, and
 * 12 s and 1.18 GB with V8's own formatting (measured 2026-12-04, compiled
 * program, mocks).
 *
 * So, when the program runs compiled (bin/):
 *  - the SDK's leak-debugging traces are not formatted (they are empty
 *    strings) unless PULUMI_DEBUG_PROMISE_LEAKS is set; that brought the
 *    same evaluation to about 9.5 s and 990 MB;
 *  - every other error is formatted as V8 formats it, pointing at bin/*.js
 *    (test/compiled.test.ts compares the two in a plain Node process);
 *  - with Node's own source maps requested (`NODE_OPTIONS=--enable-source-maps
 *    pulumi up`), Node formats and maps every trace to the TypeScript (bin/ has
 *    its .js.map files): 12 s instead of about 7 s at 2,000 hosts today.
 * Under ts-node or jest (the TypeScript sources) nothing is changed, except in
 * the command-line tools (scripts/cli.ts runCli) and the offline evaluation's
 * child process (review/evaluateChild.ts), which report a failure by its
 * message only.
 */

type Prepare = (error: Error, frames: NodeJS.CallSite[]) => unknown;
const errorClass = Error as { prepareStackTrace?: Prepare };

/** V8's default format: the error's toString, then one "    at <frame>" line per frame. */
export function formatStack(error: Error, frames: NodeJS.CallSite[]): string {
  return Error.prototype.toString.call(error) + frames.map((f) => `\n    at ${f}`).join("");
}

/** True when Node maps traces itself (--enable-source-maps on the command line or in NODE_OPTIONS). */
export function nodeSourceMaps(execArgv = process.execArgv, nodeOptions = process.env.NODE_OPTIONS ?? ""): boolean {
  return [...execArgv, ...nodeOptions.split(/\s+/)].includes("--enable-source-maps");
}

/** `compiled`: this module runs from bin/ (the default), or a caller that evaluates a program in a child of its own says so. */
export function nativeStackTraces(compiled = __filename.endsWith(".js")): void {
  if (!compiled) return;
  if (nodeSourceMaps() || process.env.PULUMI_DEBUG_PROMISE_LEAKS) {
    errorClass.prepareStackTrace = undefined;
    return;
  }
  errorClass.prepareStackTrace = (error, frames) => (frames[0]?.getFunctionName() === "debuggablePromise" ? "" : formatStack(error, frames));
}
