import type { ResourceValidationPolicy } from "@pulumi/policy";
import { docFiles } from "../../formats/document";
import { plainCopy, violation } from "../support/define";
import { shippedDocument } from "../../shipped/hosts";
import { REMOTE_TYPES } from "./sshHostKeyPinned";

const PEM = /-----BEGIN [A-Z ]*PRIVATE KEY-----/;
/** Options that carry credentials: a transport URL with user:password@, passwords, shared secrets. */
const CREDENTIAL_OPTION = /^\s*(transport_url\s*=\s*\S*:[^@\s]*@|\w*password\s*=\s*\S|\w*shared_secret\s*=\s*\S)/m;
/** Files that are credentials whatever their content. */
const CREDENTIAL_FILES = [/\/\.erlang\.cookie$/, /^\/etc\/vdi\/rabbitmq-users$/];

/** Whether a command's inputs carry credentials: judged on the parsed host document, else on the raw text. */
function carriesCredentials(type: string, props: Record<string, unknown>): boolean {
  const d = shippedDocument(type, props);
  if (d && !(d instanceof Error)) {
    return docFiles(d).some((f) => CREDENTIAL_FILES.some((re) => re.test(f.path)) || CREDENTIAL_OPTION.test(f.content));
  }
  return [props.stdin, props.create, props.update, props.delete].some((s) => typeof s === "string" && CREDENTIAL_OPTION.test(s));
}

function walk(v: unknown, path: string, out: Array<[string, string]>): void {
  if (typeof v === "string") out.push([path, v]);
  else if (Array.isArray(v)) v.forEach((x, i) => walk(x, `${path}[${i}]`, out));
  else if (v && typeof v === "object") for (const [k, x] of Object.entries(v)) walk(x, path ? `${path}.${k}` : k, out);
}

export const noPlaintextSecrets: ResourceValidationPolicy = {
  name: "no-plaintext-secrets",
  description: "Blocks private keys and passwords where they would be logged or shown in diffs: outside a connection's privateKey, or in a command that logs its output or keeps it in plain state.",
  enforcementLevel: "mandatory",
  validateResource: (args, report) => {
    const strings: Array<[string, string]> = [];
    // Scan the raw inputs behind the SDK's unknown-checking proxy: a value unknown at preview
    // holds no secret yet, and must not make this whole check "not runnable during preview".
    const raw = (args.props as Record<string, unknown>)["__getSpecialProxyTarget"] ?? args.props;
    walk(raw, "", strings);
    const isRemote = REMOTE_TYPES.includes(args.type);
    for (const [path, s] of strings) {
      if (isRemote && path === "connection.privateKey") continue;
      if (PEM.test(s) && !(isRemote && path === "stdin" && args.props.logging === "none")) {
        violation(report, args.name, `input ${path} holds a private key`, "pass keys only as connection.privateKey from a Pulumi secret (pulumi config set --secret sshPrivateKey)");
      }
    }
    if (!isRemote) return;
    if (!carriesCredentials(args.type, args.props)) return;
    if (args.props.logging !== "none") {
      violation(report, args.name, `the command carries credentials (transport URL, passwords or the Erlang cookie) but logs its output (logging = ${args.props.logging ?? "stdoutAndStderr"})`, "ship credentials only in the credentials document, whose command sets logging: none");
    }
    const secretOutputs = plainCopy<string[]>(args.opts.additionalSecretOutputs ?? []);
    if (!secretOutputs.includes("stdout") || !secretOutputs.includes("stderr")) {
      violation(report, args.name, "the command carries credentials but its stdout/stderr are not marked secret, so they land in state in plaintext", 'set additionalSecretOutputs: ["stdout", "stderr"]');
    }
  },
};
