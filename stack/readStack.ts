/**
 * Reads the stack's config and secrets, validates everything at once and
 * returns the fleet model. On any problem it throws a pulumi.RunError whose
 * message lists every problem (path, value, fix) — Pulumi prints it without a
 * stack trace, and no resource has been registered yet.
 */
import * as fs from "fs";
import * as path from "path";
import * as pulumi from "@pulumi/pulumi";
import { loadFleet, type Fleet } from "./config/load";
import { readFleetSource } from "./config/source";
import { PART_KEY, readPart, type StackPart } from "./config/part";
import { formatProblems, type ConfigProblem } from "./config/problems";
import type { Secrets } from "../render/document";
import type { SshSettings } from "../components/hostCommands";
import { PROJECT_DIR } from "./projectDir";

export const PROJECT = "vdi-fleet";

/** Secret config keys: `pulumi config set --secret <key>` or a Pulumi ESC environment. */
export const SECRET_KEYS = {
  sshPrivateKey: "the OpenSSH private key (PEM) the stack logs in to hosts with",
  rabbitmqPassword: "the RabbitMQ password of the OpenStack user",
  rabbitmqErlangCookie: "the Erlang cookie shared by the RabbitMQ nodes",
  novaServicePassword: "the Keystone password of the placement/nova service user",
  neutronServicePassword: "the Keystone password of the neutron service user",
  metadataProxySharedSecret: "the secret shared by neutron's metadata agent and nova's metadata API",
} as const;
export type SecretKey = keyof typeof SECRET_KEYS;

/**
 * Whether a config key is stored as a secret: the CLI passes the list of secret
 * keys (PULUMI_CONFIG_SECRET_KEYS); without that list we cannot tell (undefined).
 */
function isStoredAsSecret(fullKey: string): boolean | undefined {
  const state = require("@pulumi/pulumi/runtime/state") as { getStore: () => { config: Record<string, string | undefined> } };
  const list = state.getStore().config["PULUMI_CONFIG_SECRET_KEYS"];
  if (!list) return undefined;
  try {
    const keys: unknown = JSON.parse(list);
    return Array.isArray(keys) ? keys.includes(fullKey) : undefined;
  } catch {
    return undefined;
  }
}

function checkSecret(key: SecretKey, value: string | undefined): ConfigProblem[] {
  const full = `${PROJECT}:${key}`;
  if (value === undefined || value === "") {
    return [{ path: full, value: "(missing)", message: `required: ${SECRET_KEYS[key]}`, fix: `pulumi config set --secret ${key} … (or provide it from the stack's ESC environment)` }];
  }
  const out: ConfigProblem[] = [];
  if (isStoredAsSecret(full) === false) {
    out.push({ path: full, value: "(plaintext, not shown)", message: "stored in plaintext in the stack config", fix: `re-set it with pulumi config set --secret ${key} … and rotate it, since it was readable` });
  }
  if (key === "sshPrivateKey" && !/^-----BEGIN (OPENSSH|RSA|EC) PRIVATE KEY-----[\s\S]+-----END \1 PRIVATE KEY-----\s*$/.test(value.trim() + "\n")) {
    out.push({ path: full, value: "(secret, not shown)", message: "not an OpenSSH/PEM private key", fix: "pulumi config set --secret sshPrivateKey < ~/.ssh/id_ed25519 (the whole file)" });
  }
  if (key !== "sshPrivateKey" && key !== "rabbitmqErlangCookie" && (/[\s$]/.test(value) || value.length < 12)) {
    // oslo.config reads "$" as a variable reference, which would corrupt the value.
    out.push({ path: full, value: "(secret, not shown)", message: "must be at least 12 characters without whitespace or '$'", fix: `generate one, e.g. openssl rand -hex 24 | pulumi config set --secret ${key}` });
  }
  if (key === "rabbitmqErlangCookie" && !/^[A-Za-z0-9]{20,255}$/.test(value)) {
    out.push({ path: full, value: "(secret, not shown)", message: "must be 20-255 letters and digits", fix: "generate one, e.g. openssl rand -hex 20 | pulumi config set --secret rabbitmqErlangCookie" });
  } else if (key === "rabbitmqErlangCookie" && /^[A-Z]{20}$/.test(value)) {
    // rabbitmq-server's postinst (3.10.8-1.1+deb12u1) takes such a cookie for one Erlang generated, replaces
    // it on every install and upgrade, and restarts the broker directly (past policy-rc.d).
    out.push({
      path: full,
      value: "(secret, not shown)",
      message: "is 20 upper-case letters, which Debian's rabbitmq-server package replaces with a new cookie on every upgrade (and restarts the broker), cutting it off from its cluster",
      fix: "use another cookie, e.g. openssl rand -hex 20 | pulumi config set --secret rabbitmqErlangCookie",
    });
  }
  return out;
}

export interface StackInputs {
  fleet: Fleet;
  /** Which part of the region this stack deploys (stack/config/part.ts). */
  part: StackPart;
  ssh: SshSettings;
  secrets: pulumi.Output<Secrets>;
}

export function readStack(projectDir = PROJECT_DIR): StackInputs {
  const problems: ConfigProblem[] = [];
  const source = readFleetSource((k) => pulumi.runtime.getConfig(k), projectDir, `Pulumi.${pulumi.getStack()}.yaml`);
  problems.push(...source.problems);
  let fleet: Fleet | undefined;
  // A fleet that could not be read whole (a base it extends is missing or broken) is not validated:
  // its missing sections would only repeat the first problem.
  if (source.raw !== undefined && !source.problems.length) {
    const result = loadFleet(source.raw, {
      root: source.root,
      origins: source.origins,
      readFile: (p) => {
        try {
          return fs.readFileSync(path.resolve(projectDir, p), "utf8");
        } catch {
          return undefined;
        }
      },
    });
    if (result.ok) fleet = result.fleet;
    else problems.push(...result.problems);
  }
  const { part, problems: partProblems } = readPart(pulumi.runtime.getConfig(PART_KEY), fleet);
  problems.push(...partProblems);
  const values = {} as Record<SecretKey, string>;
  for (const key of Object.keys(SECRET_KEYS) as SecretKey[]) {
    const v = pulumi.runtime.getConfig(`${PROJECT}:${key}`);
    problems.push(...checkSecret(key, v));
    values[key] = v ?? "";
  }
  if (problems.length || !fleet) {
    throw new pulumi.RunError(formatProblems(problems));
  }
  const { sshPrivateKey, ...rest } = values;
  return {
    fleet,
    part,
    ssh: {
      user: fleet.spec.ssh.user,
      privateKey: pulumi.secret(sshPrivateKey),
      perDialTimeoutSeconds: fleet.spec.ssh.perDialTimeoutSeconds,
      dialErrorLimit: fleet.spec.ssh.dialErrorLimit,
    },
    secrets: pulumi.secret(rest),
  };
}
