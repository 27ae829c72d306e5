import type { ResourceValidationPolicy } from "@pulumi/policy";
import { checkPublicKey, NO_HOST_KEY } from "../../formats/knownHosts";
import { violation } from "../support/define";

export const REMOTE_TYPES = ["command:remote:Command", "command:remote:CopyToRemote", "command:remote:CopyFile"];

export const sshHostKeyPinned: ResourceValidationPolicy = {
  name: "ssh-host-key-pinned",
  description: "Blocks remote commands whose SSH connection does not pin a well-formed host key (a planned host whose key is not in known_hosts yet included), or that log in with a password instead of a key.",
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
    } else if (hostKey.startsWith(NO_HOST_KEY)) {
      // A planned host: previewable, never deployable (and the provider would refuse to connect).
      const file = hostKey.slice(NO_HOST_KEY.length).trim();
      violation(report, `${args.name} (${host})`, `its host key is not in ${file} yet (a planned host), so there is no key to pin`, `when the host is racked, from a trusted network: ssh-keyscan -t ed25519 <address> >> ${file} for each such host, verify the fingerprints out of band, and commit the file`);
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
