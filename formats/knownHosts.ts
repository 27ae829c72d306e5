/**
 * OpenSSH known_hosts parsing, for pinning every host's SSH key.
 *
 * The fleet's keys live in one known_hosts file (what `ssh-keyscan` writes,
 * hashed or not). A host is matched by its name or address, with the
 * `[addr]:port` form for ports other than 22. The pinned key is given to
 * @pulumi/command as "<type> <base64>" (authorized_keys form).
 */
import { createHmac } from "crypto";

/**
 * The host key a planned host's connection carries while its key is not in the stack's known_hosts
 * file yet: `no-host-key: <file>`. The preview shows everything the host would get, and the
 * mandatory ssh-host-key-pinned policy blocks the deploy. It fails closed: the command provider
 * parses a given hostKey with ssh.ParseAuthorizedKey and refuses to connect when that fails
 * (pulumi-command provider/pkg/provider/remote/connection.go, SSHConfig); only an absent hostKey
 * would accept any server, and this is never absent.
 */
export const NO_HOST_KEY = "no-host-key:";
export const noHostKey = (knownHostsFile: string): string => `${NO_HOST_KEY} ${knownHostsFile}`;

export const HOST_KEY_TYPES = [
  "ssh-ed25519",
  "ecdsa-sha2-nistp256",
  "ecdsa-sha2-nistp384",
  "ecdsa-sha2-nistp521",
  "ssh-rsa",
] as const;

export interface KnownHostEntry {
  line: number;
  patterns: string[];
  hashed?: { salt: Buffer; hash: Buffer };
  keyType: string;
  key: string;
}

export interface KnownHostsParse {
  entries: KnownHostEntry[];
  problems: Array<{ line: number; message: string }>;
}

/** Checks that a public key blob is well formed: base64 whose embedded type equals the declared one. */
export function checkPublicKey(keyType: string, b64: string): string | undefined {
  if (!(HOST_KEY_TYPES as readonly string[]).includes(keyType)) return `unsupported key type ${keyType}`;
  if (!/^[A-Za-z0-9+/]+={0,2}$/.test(b64)) return "key is not base64";
  const buf = Buffer.from(b64, "base64");
  if (buf.length < 4) return "key is too short";
  const n = buf.readUInt32BE(0);
  if (n + 4 > buf.length) return "key blob is truncated";
  const embedded = buf.subarray(4, 4 + n).toString("latin1");
  if (embedded !== keyType) return `key blob says ${embedded}, line says ${keyType}`;
  if (keyType === "ssh-ed25519" && buf.length !== 4 + 11 + 4 + 32) return "ed25519 key blob has the wrong length";
  return undefined;
}

export function parseKnownHosts(text: string): KnownHostsParse {
  const entries: KnownHostEntry[] = [];
  const problems: Array<{ line: number; message: string }> = [];
  text.split("\n").forEach((raw, idx) => {
    const line = idx + 1;
    const s = raw.trim();
    if (s === "" || s.startsWith("#")) return;
    const parts = s.split(/\s+/);
    if (parts[0].startsWith("@")) {
      problems.push({ line, message: `markers like ${parts[0]} are not supported` });
      return;
    }
    if (parts.length < 3) {
      problems.push({ line, message: "expected '<hosts> <key-type> <base64-key>'" });
      return;
    }
    const [hosts, keyType, key] = parts;
    const bad = checkPublicKey(keyType, key);
    if (bad) {
      problems.push({ line, message: bad });
      return;
    }
    if (hosts.startsWith("|1|")) {
      const [, , salt, hash] = hosts.split("|");
      if (!salt || !hash) {
        problems.push({ line, message: "malformed hashed host" });
        return;
      }
      entries.push({ line, patterns: [], hashed: { salt: Buffer.from(salt, "base64"), hash: Buffer.from(hash, "base64") }, keyType, key });
    } else {
      entries.push({ line, patterns: hosts.split(","), keyType, key });
    }
  });
  return { entries, problems };
}

function hostToken(hostOrAddr: string, port: number): string {
  return port === 22 ? hostOrAddr : `[${hostOrAddr}]:${port}`;
}

/** An index for fast lookup of many hosts (plain entries by token; hashed entries checked per lookup). */
export class KnownHosts {
  private readonly plain = new Map<string, KnownHostEntry[]>();
  private readonly hashed: KnownHostEntry[] = [];

  constructor(parse: KnownHostsParse) {
    for (const e of parse.entries) {
      if (e.hashed) this.hashed.push(e);
      else for (const p of e.patterns) (this.plain.get(p) ?? this.plain.set(p, []).get(p)!).push(e);
    }
  }

  /** Keys for a host by any of its names/addresses; ed25519 first. */
  lookup(names: string[], port: number): KnownHostEntry[] {
    const tokens = names.map((n) => hostToken(n, port));
    const found: KnownHostEntry[] = [];
    for (const t of tokens) for (const e of this.plain.get(t) ?? []) if (!found.includes(e)) found.push(e);
    for (const e of this.hashed) {
      for (const t of tokens) {
        const h = createHmac("sha1", e.hashed!.salt).update(t).digest();
        if (h.equals(e.hashed!.hash) && !found.includes(e)) found.push(e);
      }
    }
    const rank = (k: string) => (HOST_KEY_TYPES as readonly string[]).indexOf(k);
    return found.sort((a, b) => rank(a.keyType) - rank(b.keyType));
  }
}
