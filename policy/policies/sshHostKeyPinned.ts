import type { ResourceValidationPolicy } from "@pulumi/policy";
import { checkPublicKey } from "../../formats/knownHosts";
import { violation } from "../support/define";

export const REMOTE_TYPES = ["command:remote:Command", "command:remote:CopyToRemote", "command:remote:CopyFile"];

export const sshHostKeyPinned: ResourceValidationPolicy = {
  name: "ssh-host-key-pinned",
  description: "Blocks remote commands whose SSH connection does not pin a well-formed host key, or that log in with a password instead of a key.",
  enforcementLevel: "mandatory",
  validateResource: (args, report) => {
    if (!REMOTE_TYPES.includes(args.type)) return;
    const conn = args.props.connection;
    if (!conn || typeof conn !== "object") {
      violation(report, args.name, "the command has no SSH connection", "give it a connection with host, hostKey and privateKey");
      return;
    }
    const hostKey = (conn as Record<string, unknown>).hostKey;
    const host = String((conn as Record<string, unknown>).host ?? "?");
    if (typeof hostKey !== "string" || hostKey.trim() === "") {
      violation(report, `${args.name} (${host})`, "the SSH connection pins no host key, so the provider accepts any server (a man in the middle gets the root session and the documents)", "add the host's key to the stack's known_hosts file (ssh-keyscan -t ed25519, verified out of band)");
    } else {
      const [type, blob, ...rest] = hostKey.trim().split(/\s+/);
      const bad = rest.length > 1 ? "expected '<type> <base64>'" : checkPublicKey(type, blob ?? "");
      if (bad) violation(report, `${args.name} (${host})`, `the pinned host key is malformed: ${bad}`, "pin the key as '<type> <base64>' from ssh-keyscan output");
      else if (type === "ssh-rsa") violation(report, `${args.name} (${host})`, "the pinned host key is ssh-rsa: the provider then offers only SHA-1 ssh-rsa, which Debian 12's sshd refuses", "pin the host's ed25519 key");
    }
    if ((conn as Record<string, unknown>).password !== undefined && (conn as Record<string, unknown>).password !== null) {
      violation(report, `${args.name} (${host})`, "the SSH connection logs in with a password", "use sshPrivateKey (a Pulumi secret) and disable password logins");
    }
  },
};
