import { spawn, spawnSync } from "child_process";
import * as fs from "fs";
import * as path from "path";
import * as crypto from "crypto";
import * as zlib from "zlib";
import { applyScriptText, installedApplyCommand, installedScriptPath, packedProblem, packedScriptProblem, unpackingCommand } from "../host/applyScript";
import { DocEntry, DocFile, HostDocument, parseDocument, renderDocument } from "../formats/document";
import { restartsOf } from "../review/compare";
import {
  cleanupTempDirs,
  isHealthCall,
  currentOwner,
  listTree,
  makeFakeSystem,
  makeTempDir,
  runApply,
  runApplyAsync,
  SCRIPT_TEXT,
} from "./helpers/applyHarness";

afterAll(() => cleanupTempDirs());

const SECRET = "transport_url = rabbit://nova:s3cr3t-Pa55@10.0.0.5:5672/";

function file(p: string, content: string, extra: Partial<DocFile> = {}): DocEntry {
  return { kind: "file", file: { path: p, mode: "0644", owner: "root", group: "root", content, actions: [], ...extra } };
}

function doc(root: string, entries: DocEntry[], host = "vdi-compute-01"): string {
  const d: HostDocument = { host, root, entries };
  return renderDocument(d);
}

const mode = (p: string) => fs.statSync(p).mode & 0o7777;


/** The apt-get install command line the script runs (flags, before the name=version pairs). */
const APT_INSTALL = ["apt-get", "install", "-y", "-q", "--no-install-recommends", "-o", "Dpkg::Options::=--force-confold", "--allow-downgrades", "--allow-change-held-packages"];
describe("host/apply.sh: script text", () => {
  test("is valid bash, strict, and does not rely on its own path", () => {
    const r = spawnSync("bash", ["-n", "-c", SCRIPT_TEXT], { encoding: "utf8" });
    expect(r.status).toBe(0);
    expect(SCRIPT_TEXT).toMatch(/^set -euo pipefail$/m);
    expect(SCRIPT_TEXT).not.toMatch(/\beval\b|\$0|BASH_SOURCE|python|\bjq\b/);
  });
});

describe("the packed script the converge command carries", () => {
  test("host/apply.sh.gz.b64 is host/apply.sh as it is now (else: npm run pack-apply)", () => {
    expect(packedScriptProblem()).toBeUndefined();
    expect(packedProblem(undefined, "x\n")).toMatch(/is missing\. Fix: run npm run pack-apply/);
    expect(packedProblem(zlib.gzipSync("old\n").toString("base64"), "new\n")).toMatch(/is not host\/apply\.sh as it is now\. Fix: run npm run pack-apply/);
    expect(packedProblem("not base64 gzip", "new\n")).toMatch(/Fix: run npm run pack-apply/);
  });

  test("a payload that does not unpack to the expected script is not run", () => {
    const root = makeTempDir();
    const good = zlib.gzipSync(applyScriptText()).toString("base64");
    const digest = crypto.createHash("sha256").update(applyScriptText()).digest("hex");
    const text = doc(root, [file("/etc/motd", "hello\n")]);
    const message = "vdi-apply: error: cannot unpack the apply script (needs base64, gzip and sha256sum)\n";
    for (const create of [unpackingCommand("root", good.slice(0, good.length / 2), digest), unpackingCommand("root", "bm90IGd6aXA=", digest), unpackingCommand("root", good, "0".repeat(64))]) {
      const r = runApply(text, { create });
      expect(r.status).toBe(1);
      expect(r.stdout).toBe("");
      expect(r.stderr.endsWith(message)).toBe(true);
      expect(fs.existsSync(path.join(root, "etc/motd"))).toBe(false);
    }
    const ok = runApply(text, { create: unpackingCommand("root", good, digest) });
    expect(ok.status).toBe(0);
    expect(fs.readFileSync(path.join(root, "etc/motd"), "utf8")).toBe("hello\n");
  });
});

describe("root-prefix mode", () => {
  const labEntries = (over: Record<string, string> = {}): DocEntry[] => [
    { kind: "fact", fact: { key: "ram_mb", value: "999999", verify: true } },
    { kind: "fact", fact: { key: "site", value: "lab", verify: false } },
    file("/etc/apt/preferences.d/vdi-pins", "Package: nova-compute\nPin: version 2:27.1.0-0ubuntu1\nPin-Priority: 1001\n"),
    { kind: "package", name: "nova-compute", version: "2:27.1.0-0ubuntu1" },
    { kind: "package", name: "libvirt-daemon", version: "9.0.0-4" },
    file("/etc/nova/nova.conf", over.nova ?? `[DEFAULT]\n${SECRET}\n`, {
      mode: "0640",
      owner: "root",
      group: "root",
      actions: [{ kind: "restart", unit: "nova-compute.service" }],
    }),
    file("/etc/libvirt/libvirtd.conf", over.libvirt ?? 'listen_tls = 0\nunix_sock_group = "libvirt"\n', {
      actions: [{ kind: "restart", unit: "libvirtd.service" }],
    }),
    file("/etc/systemd/system/vdi-agent.service", "[Service]\nExecStart=/usr/local/bin/vdi-agent\n", {
      actions: [{ kind: "daemon-reload" }, { kind: "restart", unit: "vdi-agent.service" }],
    }),
    file("/etc/sysctl.d/90-vdi.conf", "vm.swappiness = 10\n", { actions: [{ kind: "sysctl" }] }),
    file("/usr/local/sbin/vdi-reconfigure", "#!/bin/sh\nexit 0\n", { mode: "0755", actions: [{ kind: "exec" }] }),
    file("/etc/vdi/agent.yaml", "owner: nobody-here\n", { owner: "vdi_agent_nouser", group: "vdi_agent_nouser" }),
    { kind: "enable", unit: "vdi-agent.service" },
  ];

  test("creates files, reports skipped system actions, then is idempotent", () => {
    const root = makeTempDir();
    const text = doc(root, labEntries());
    const r1 = runApply(text);
    expect(r1.stderr).toBe("");
    expect(r1.status).toBe(0);

    const nova = path.join(root, "etc/nova/nova.conf");
    expect(fs.readFileSync(nova, "utf8")).toBe(`[DEFAULT]\n${SECRET}\n`);
    expect(mode(nova)).toBe(0o640);
    expect(mode(path.join(root, "usr/local/sbin/vdi-reconfigure"))).toBe(0o755);
    expect(mode(path.join(root, "etc/sysctl.d/90-vdi.conf"))).toBe(0o644);
    expect(fs.readFileSync(path.join(root, "etc/vdi/agent.yaml"), "utf8")).toBe("owner: nobody-here\n");

    const L = r1.lines;
    expect(L.every((l) => l.startsWith("vdi-apply: "))).toBe(true);
    for (const p of [
      "/etc/apt/preferences.d/vdi-pins",
      "/etc/nova/nova.conf",
      "/etc/libvirt/libvirtd.conf",
      "/etc/systemd/system/vdi-agent.service",
      "/etc/sysctl.d/90-vdi.conf",
      "/usr/local/sbin/vdi-reconfigure",
      "/etc/vdi/agent.yaml",
    ]) {
      expect(L).toContain(`vdi-apply: changed ${p}`);
    }
    const skipped = (what: string) => `vdi-apply: skipped ${what} (root prefix ${root})`;
    expect(L).toContain(skipped("fact verification ram_mb"));
    expect(L).toContain(skipped("install and hold of nova-compute=2:27.1.0-0ubuntu1 libvirt-daemon=9.0.0-4"));
    expect(L).toContain(skipped("daemon-reload"));
    expect(L).toContain(skipped("enable vdi-agent.service"));
    expect(L).toContain(skipped("sysctl /etc/sysctl.d/90-vdi.conf"));
    expect(L).toContain(skipped("exec /usr/local/sbin/vdi-reconfigure"));
    expect(L.filter((l) => l.startsWith("vdi-apply: skipped restart "))).toEqual([
      skipped("restart nova-compute.service"),
      skipped("restart libvirtd.service"),
      skipped("restart vdi-agent.service"),
    ]);
    expect(L).toContain("vdi-apply: note: owner of /etc/vdi/agent.yaml left as is (vdi_agent_nouser:vdi_agent_nouser does not exist on this machine)");
    // the pin file is written before the (skipped) package step, nova.conf after it
    const idx = (s: string) => L.findIndex((l) => l.startsWith(s));
    expect(idx("vdi-apply: changed /etc/apt/preferences.d/vdi-pins")).toBeLessThan(idx("vdi-apply: skipped install"));
    expect(idx("vdi-apply: skipped install")).toBeLessThan(idx("vdi-apply: changed /etc/nova/nova.conf"));
    expect(L[L.length - 1]).toBe("vdi-apply: host=vdi-compute-01 changes=7 restarts=3");
    // contents (secrets) are never printed
    expect(r1.stdout + r1.stderr).not.toContain("s3cr3t");

    // second run: nothing to do, nothing touched
    const before = new Map(listTree(root).map((p) => [p, fs.statSync(path.join(root, p))]));
    const r2 = runApply(text);
    expect(r2.status).toBe(0);
    expect(r2.lines.filter((l) => /changed|fixed-metadata|skipped restart|skipped exec|skipped sysctl/.test(l))).toEqual([]);
    expect(r2.lines[r2.lines.length - 1]).toBe("vdi-apply: host=vdi-compute-01 changes=0 restarts=0");
    for (const [p, st] of before) {
      const now = fs.statSync(path.join(root, p));
      if (st.isFile()) {
        expect([p, now.mtimeMs, now.ino]).toEqual([p, st.mtimeMs, st.ino]);
      }
    }

    // one file's content changes: only it is written, only its unit restarted
    const r3 = runApply(doc(root, labEntries({ libvirt: 'listen_tls = 0\nunix_sock_group = "kvm"\n' })));
    expect(r3.status).toBe(0);
    expect(r3.lines.filter((l) => l.startsWith("vdi-apply: changed "))).toEqual(["vdi-apply: changed /etc/libvirt/libvirtd.conf"]);
    expect(r3.lines.filter((l) => / restart /.test(l))).toEqual([skipped("restart libvirtd.service")]);
    expect(r3.lines.some((l) => /daemon-reload|sysctl|exec /.test(l))).toBe(false);
    expect(r3.lines[r3.lines.length - 1]).toBe("vdi-apply: host=vdi-compute-01 changes=1 restarts=1");
    expect(fs.statSync(nova).mtimeMs).toBe(before.get("etc/nova/nova.conf")!.mtimeMs);
    // no temp files left next to targets, no journal left behind
    expect(listTree(root).filter((p) => p.includes(".vdi-apply.") || p.endsWith(".pending"))).toEqual([]);
  });

  test("a mode-only drift is fixed without triggering actions; a content drift triggers them", () => {
    const root = makeTempDir();
    const text = doc(root, labEntries());
    expect(runApply(text).status).toBe(0);
    const nova = path.join(root, "etc/nova/nova.conf");

    fs.chmodSync(nova, 0o666);
    const r1 = runApply(text);
    expect(r1.status).toBe(0);
    expect(r1.lines).toContain("vdi-apply: fixed-metadata /etc/nova/nova.conf");
    expect(r1.lines.some((l) => / restart /.test(l))).toBe(false);
    expect(r1.lines[r1.lines.length - 1]).toBe("vdi-apply: host=vdi-compute-01 changes=1 restarts=0");
    expect(mode(nova)).toBe(0o640);

    fs.writeFileSync(nova, "[DEFAULT]\n# edited by hand\n");
    const r2 = runApply(text);
    expect(r2.lines).toContain("vdi-apply: changed /etc/nova/nova.conf");
    expect(r2.lines).toContain(`vdi-apply: skipped restart nova-compute.service (root prefix ${root})`);
    expect(r2.lines[r2.lines.length - 1]).toBe("vdi-apply: host=vdi-compute-01 changes=1 restarts=1");
    expect(fs.readFileSync(nova, "utf8")).toBe(`[DEFAULT]\n${SECRET}\n`);
  });

  test("works as `bash host/apply.sh < doc` and from any working directory", () => {
    const root = makeTempDir();
    const cwd = makeTempDir();
    const r = runApply(doc(root, [file("/etc/motd", "hello\n")]), { viaFile: true, cwd });
    expect(r.status).toBe(0);
    expect(fs.readFileSync(path.join(root, "etc/motd"), "utf8")).toBe("hello\n");
    expect(r.lines[r.lines.length - 1]).toBe("vdi-apply: host=vdi-compute-01 changes=1 restarts=0");
  });

  test("the converge command keeps a copy of the script, by hash, that the credentials command runs", () => {
    const root = makeTempDir();
    const copy = installedScriptPath(root);
    expect(copy.startsWith(`${root}/usr/local/lib/vdi-apply/`)).toBe(true);
    const credentials = installedApplyCommand("root", root, "vdi-compute-01-converge");
    const credentialsDoc = doc(root, [file("/etc/nova/nova.conf.d/90-credentials.conf", `[DEFAULT]\n${SECRET}\n`, { mode: "0640" })]);

    // Before any converge run there is no copy: the credentials command names the fix.
    const early = runApply(credentialsDoc, { create: credentials });
    expect(early.status).toBe(1);
    expect(early.stderr).toBe(`vdi-apply: error: ${copy} is missing or changed; it is installed by the command vdi-compute-01-converge: run pulumi up --replace with its URN\n`);
    expect(fs.existsSync(path.join(root, "etc/nova"))).toBe(false);

    // A converge run leaves the copy (older copies removed), byte for byte the shipped text.
    fs.mkdirSync(path.dirname(copy), { recursive: true });
    fs.writeFileSync(path.join(path.dirname(copy), "0".repeat(64) + ".sh"), "old\n");
    expect(runApply(doc(root, [file("/etc/motd", "hello\n")])).status).toBe(0);
    expect(fs.readdirSync(path.dirname(copy))).toEqual([path.basename(copy)]);
    expect(fs.readFileSync(copy, "utf8")).toBe(applyScriptText());
    expect(mode(copy)).toBe(0o644);

    // The credentials command runs it with its document on stdin.
    const r = runApply(credentialsDoc, { create: credentials });
    expect(r.stderr).toBe("");
    expect(r.status).toBe(0);
    expect(r.lines[r.lines.length - 1]).toBe("vdi-apply: host=vdi-compute-01 changes=1 restarts=0");
    expect(fs.readFileSync(path.join(root, "etc/nova/nova.conf.d/90-credentials.conf"), "utf8")).toBe(`[DEFAULT]\n${SECRET}\n`);

    // A changed copy is refused, not run.
    fs.appendFileSync(copy, "echo tampered\n");
    const tampered = runApply(credentialsDoc, { create: credentials });
    expect(tampered.status).toBe(1);
    expect(tampered.stdout).toBe("");
    expect(tampered.stderr).toContain("is missing or changed");
  });

  test("waits for the lock held by another apply", async () => {
    const root = makeTempDir();
    fs.mkdirSync(path.join(root, "run"));
    const ready = path.join(root, "holder-ready");
    const released = path.join(root, "holder-released");
    const holder = spawn("flock", [path.join(root, "run/vdi-apply.lock"), "-c", `touch ${ready}; sleep 0.5; touch ${released}`], {
      stdio: "ignore",
    });
    const exited = new Promise((res) => holder.on("exit", res));
    while (!fs.existsSync(ready)) await new Promise((res) => setTimeout(res, 10));
    const r = runApply(doc(root, [file("/etc/motd", "hello\n")]));
    await exited;
    expect(r.status).toBe(0);
    // the file was written only after the other holder let go of the lock
    expect(fs.statSync(path.join(root, "etc/motd")).mtimeMs).toBeGreaterThanOrEqual(fs.statSync(released).mtimeMs);
  });
});

describe("root-prefix mode: start, needs and post", () => {
  test("starts and posts are reported as skipped (starts not counted); needs is checked under the root", () => {
    const root = makeTempDir();
    const entries = (conf: string): DocEntry[] => [
      file("/etc/nova/nova.conf", conf, {
        actions: [{ kind: "restart", unit: "nova-compute.service" }, { kind: "post", path: "/usr/local/sbin/vdi-post" }],
      }),
      file("/usr/local/sbin/vdi-post", "#!/bin/sh\nexit 0\n", { mode: "0755" }),
      { kind: "needs", unit: "nova-compute.service", path: "/etc/nova/credentials.conf" },
      { kind: "start", unit: "nova-compute.service" },
      { kind: "start", unit: "libvirtd.service" },
    ];
    const skipped = (what: string) => `vdi-apply: skipped ${what} (root prefix ${root})`;
    const r1 = runApply(doc(root, entries("a\n")));
    expect(r1.stderr).toBe("");
    expect(r1.status).toBe(0);
    expect(r1.lines.filter((l) => !l.includes(" changed "))).toEqual([
      "vdi-apply: deferred nova-compute.service (waiting for /etc/nova/credentials.conf)",
      skipped("start libvirtd.service"),
      skipped("post /usr/local/sbin/vdi-post"),
      "vdi-apply: host=vdi-compute-01 changes=2 restarts=0",
    ]);

    fs.writeFileSync(path.join(root, "etc/nova/credentials.conf"), "x\n");
    const r2 = runApply(doc(root, entries("b\n")));
    expect(r2.status).toBe(0);
    expect(r2.lines).toEqual([
      "vdi-apply: changed /etc/nova/nova.conf",
      skipped("restart nova-compute.service"),
      skipped("start nova-compute.service"),
      skipped("start libvirtd.service"),
      skipped("post /usr/local/sbin/vdi-post"),
      "vdi-apply: host=vdi-compute-01 changes=1 restarts=1",
    ]);
  });
});

describe("content round-trips byte-exactly", () => {
  const tricky = [
    "back\\slash \\n \\t \\\\ C:\\Windows\\",
    "$HOME ${PATH} $(id) `uname` $1 $@ $$",
    `"double" 'single' \`back\` "unbalanced '`,
    "end",
    "file /x 0644 root:root 1 -",
    "vdi-host-document 2",
    "",
    "   leading spaces",
    "trailing spaces   ",
    "\ttab\tseparated\t",
    "-n",
    "-e \\x41",
    "%s %d %%",
    "* ?[a] ~",
    "ünïcödé ✓",
    "   ",
    SECRET,
    "",
    "",
  ].join("\n") + "\n";

  test.each([
    ["tricky lines", tricky],
    ["a single empty line", "\n"],
    ["only `end`", "end\n"],
    ["a line ending in a backslash", "a\\"],
  ])("%s", (_name, raw) => {
    const content = raw.endsWith("\n") ? raw : raw + "\n";
    const root = makeTempDir();
    const text = doc(root, [
      file("/etc/tricky.conf", content, { mode: "0600" }),
      file("/etc/after.conf", "after\n"),
    ]);
    const r = runApply(text);
    expect(r.stderr).toBe("");
    expect(r.status).toBe(0);
    expect(fs.readFileSync(path.join(root, "etc/tricky.conf"))).toEqual(Buffer.from(content, "utf8"));
    expect(fs.readFileSync(path.join(root, "etc/after.conf"), "utf8")).toBe("after\n");
    expect(mode(path.join(root, "etc/tricky.conf"))).toBe(0o600);
    expect(r.stdout + r.stderr).not.toContain("s3cr3t");
    const again = runApply(text);
    expect(again.lines[again.lines.length - 1]).toBe("vdi-apply: host=vdi-compute-01 changes=0 restarts=0");
  });
});

describe("malformed documents: exit 2, nothing written", () => {
  const good = (root: string) =>
    doc(root, [file("/etc/a.conf", `x\n${SECRET}\n`, { actions: [{ kind: "restart", unit: "a.service" }] }), file("/etc/b.conf", "b\n")]);
  const cases: Array<[string, (root: string) => string, RegExp]> = [
    ["bad header", (r) => good(r).replace("vdi-host-document 2", "vdi-host-document 1"), /^vdi-apply: line 1: /],
    ["empty input", () => "", /^vdi-apply: line 1: /],
    ["missing host", (r) => good(r).replace(/^host .*\n/m, ""), /^vdi-apply: line 2: /],
    ["relative root", (r) => good(r).replace(`root ${r}`, "root lab/x"), /^vdi-apply: line 3: /],
    ["truncated: no end", (r) => good(r).replace(/end\n$/, ""), /^vdi-apply: line 9: .*truncated/],
    ["truncated inside content", (r) => good(r).split("\n").slice(0, 5).join("\n") + "\n", /^vdi-apply: line 6: .*truncated/],
    ["line count too small", (r) => good(r).replace("root:root 2 restart=a.service", "root:root 1 restart=a.service"), /^vdi-apply: line 6: unknown directive/],
    ["line count too large", (r) => good(r).replace("file /etc/b.conf 0644 root:root 1", "file /etc/b.conf 0644 root:root 2"), /^vdi-apply: line 10: .*truncated/],
    ["unknown directive", (r) => good(r).replace("end\n", "service nova start\nend\n"), /^vdi-apply: line 9: unknown directive/],
    ["text after end", (r) => good(r) + "file /etc/c 0644 root:root 1 -\nc\n", /^vdi-apply: line 10: text after "end"/],
    ["empty line after end", (r) => good(r) + "\n", /^vdi-apply: line 10: text after "end"/],
    ["bad mode", (r) => good(r).replace("/etc/b.conf 0644", "/etc/b.conf 0999"), /^vdi-apply: line 7: /],
    ["unknown action", (r) => good(r).replace("restart=a.service", "reboot"), /^vdi-apply: line 4: unknown file action/],
    ["path escaping the root", (r) => good(r).replace("/etc/b.conf", "/etc/../../b.conf"), /^vdi-apply: line 7: /],
    ["duplicate file", (r) => good(r).replace("/etc/b.conf", "/etc/a.conf"), /^vdi-apply: line 7: duplicate file/],
    ["unknown verify key", (r) => good(r).replace("end\n", "fact gpus 1 verify\nend\n"), /^vdi-apply: line 9: cannot verify fact gpus/],
    ["package with a range", (r) => good(r).replace("end\n", "package nova-compute >=2.0\nend\n"), /^vdi-apply: line 9: /],
    ["start without a unit", (r) => good(r).replace("end\n", "start\nend\n"), /^vdi-apply: line 9: expected "start <unit>"/],
    ["start of a bad unit", (r) => good(r).replace("end\n", "start nova-compute\nend\n"), /^vdi-apply: line 9: expected "start <unit>"/],
    ["start with two units", (r) => good(r).replace("end\n", "start a.service b.service\nend\n"), /^vdi-apply: line 9: expected "start <unit>"/],
    ["needs without a path", (r) => good(r).replace("end\n", "needs a.service\nend\n"), /^vdi-apply: line 9: expected "needs <unit> <absolute path>"/],
    ["needs with a relative path", (r) => good(r).replace("end\n", "needs a.service etc/a.conf\nend\n"), /^vdi-apply: line 9: expected "needs/],
    ["needs with a path escaping the root", (r) => good(r).replace("end\n", "needs a.service /etc/../../x\nend\n"), /^vdi-apply: line 9: needs path .* normalized/],
    ["needs of a bad unit", (r) => good(r).replace("end\n", "needs nova /etc/a.conf\nend\n"), /^vdi-apply: line 9: expected "needs/],
    ["post with a relative path", (r) => good(r).replace("restart=a.service", "post=usr/bin/x"), /^vdi-apply: line 4: unknown file action/],
    ["post without a path", (r) => good(r).replace("restart=a.service", "post="), /^vdi-apply: line 4: unknown file action/],
    ["post with a path escaping the root", (r) => good(r).replace("restart=a.service", "post=/etc/../../x"), /^vdi-apply: line 4: bad post path/],
  ];

  test.each(cases)("%s", (_name, make, message) => {
    const root = makeTempDir();
    const text = make(root);
    const r = runApply(text);
    expect(r.status).toBe(2);
    expect(r.stdout).toBe("");
    expect(r.stderr.split("\n").filter((l) => l !== "")).toHaveLength(1);
    expect(r.stderr).toMatch(message);
    expect(r.stderr).not.toContain("s3cr3t");
    expect(listTree(root)).toEqual([]);
  });
});

describe('"/" mode with stubbed system tools', () => {
  const { owner, group } = currentOwner();
  const ORDER_INSTALL = ["nova-compute=2:27.1.0-0ubuntu1", "qemu-system-x86=1:7.2+dfsg-7+deb12u6"];

  function fleetDoc(d: string, log: string, facts: DocEntry[] = [], novaConf = `[DEFAULT]\n${SECRET}\n`): string {
    const f = (p: string, content: string, extra: Partial<DocFile> = {}) => file(d + p, content, { owner, group, ...extra });
    return doc("/", [
      ...facts,
      f("/etc/apt/preferences.d/vdi-pins", "Package: *\nPin-Priority: 1001\n"),
      { kind: "package", name: "nova-compute", version: "2:27.1.0-0ubuntu1" },
      { kind: "package", name: "libvirt-daemon", version: "9.0.0-4" },
      { kind: "package", name: "qemu-system-x86", version: "1:7.2+dfsg-7+deb12u6" },
      f("/etc/systemd/system/nova-compute.service.d/override.conf", "[Service]\nLimitNOFILE=65536\n", {
        actions: [{ kind: "daemon-reload" }, { kind: "restart", unit: "nova-compute.service" }],
      }),
      f("/etc/nova/nova.conf", novaConf, { mode: "0640", actions: [{ kind: "restart", unit: "nova-compute.service" }] }),
      f("/etc/libvirt/libvirtd.conf", "listen_tls = 0\n", { actions: [{ kind: "restart", unit: "libvirtd.service" }] }),
      f("/etc/sysctl.d/90-vdi.conf", "vm.swappiness = 10\n", { actions: [{ kind: "sysctl" }] }),
      f("/usr/local/sbin/vdi-reconfigure", `#!/bin/bash\nprintf 'exec\\t%s\\n' "$0" >> ${log}\n`, { mode: "0755", actions: [{ kind: "exec" }] }),
      f("/etc/vdi/desktops.yaml", "pools: []\n", { actions: [{ kind: "exec", path: d + "/usr/local/sbin/vdi-reconfigure" }] }),
      { kind: "enable", unit: "nova-compute.service" },
      { kind: "enable", unit: "libvirtd.service" },
    ]);
  }

  test("installs, holds, enables, reloads, sysctls, execs and restarts exactly as needed", () => {
    const fake = makeFakeSystem();
    const d = fake.dir;
    const text = fleetDoc(d, fake.log, [
      { kind: "fact", fact: { key: "cpus", value: "4", verify: true } },
      { kind: "fact", fact: { key: "ram_mb", value: "8192", verify: true } },
    ]);
    const r = runApply(
      text,
      fake.options({
        installed: { "libvirt-daemon": "9.0.0-4", "nova-compute": "2:26.0.0-0ubuntu1" },
        held: ["libvirt-daemon"],
        enabled: ["libvirtd.service"],
        nproc: 4,
        memTotalKb: 8_000_000,
        probe: [d + "/etc/apt/preferences.d/vdi-pins", d + "/etc/nova/nova.conf"],
        sysctl: { "vm.swappiness": "60" },
      }),
    );
    expect(r.stderr).not.toContain("s3cr3t");
    expect(r.status).toBe(0);
    const calls = fake.calls({ health: true });
    const named = (n: string) => calls.filter((c) => c[0] === n);

    expect(named("nproc")).toEqual([["nproc", "--all"]]);
    expect(named("dpkg-query").map((c) => c[c.length - 1])).toEqual(["nova-compute", "libvirt-daemon", "qemu-system-x86"]);
    expect(named("apt-get")).toEqual([
      ["apt-get", "update", "-q"],
      [...APT_INSTALL, ...ORDER_INSTALL],
    ]);
    expect(named("apt-get-env")).toContainEqual(["apt-get-env", "DEBIAN_FRONTEND=noninteractive"]);
    // the pin file was in place before apt ran; nova.conf (after the packages) was not yet
    expect(named("probe").slice(-2)).toEqual([
      ["probe", d + "/etc/apt/preferences.d/vdi-pins", "present"],
      ["probe", d + "/etc/nova/nova.conf", "absent"],
    ]);
    expect(named("apt-mark")).toEqual([["apt-mark", "showhold"], ["apt-mark", "hold", "nova-compute", "qemu-system-x86"]]);

    const sys = calls.filter((c) => ["systemctl", "sysctl", "exec"].includes(c[0]) && !isHealthCall(c));
    expect(sys).toEqual([
      ["systemctl", "daemon-reload"],
      ["systemctl", "is-enabled", "--quiet", "nova-compute.service"],
      ["systemctl", "enable", "nova-compute.service"],
      ["systemctl", "is-enabled", "--quiet", "libvirtd.service"],
      ["exec", d + "/usr/local/sbin/vdi-reconfigure"],
      ["systemctl", "restart", "nova-compute.service"],
      ["systemctl", "restart", "libvirtd.service"],
    ]);
    // the sysctl written to the kernel (read back), no sysctl(8) call
    expect(fake.sysctl("vm.swappiness")).toBe("10");
    // what was restarted is asked until active, then once more after the settle
    expect(calls.filter(isHealthCall)).toEqual([
      ["systemctl", "is-active", "nova-compute.service"],
      ["systemctl", "is-active", "libvirtd.service"],
      ["systemctl", "is-active", "nova-compute.service"],
      ["systemctl", "is-active", "libvirtd.service"],
    ]);

    const L = r.lines;
    expect(L).toEqual(
      expect.arrayContaining([
        "vdi-apply: installed nova-compute=2:27.1.0-0ubuntu1",
        "vdi-apply: installed qemu-system-x86=1:7.2+dfsg-7+deb12u6",
        "vdi-apply: held nova-compute",
        "vdi-apply: held qemu-system-x86",
        "vdi-apply: enabled nova-compute.service",
        "vdi-apply: restarted nova-compute.service",
        "vdi-apply: restarted libvirtd.service",
        `vdi-apply: changed ${d}/etc/nova/nova.conf`,
      ]),
    );
    expect(L.some((l) => l.includes("skipped"))).toBe(false);
    expect(L.some((l) => l.includes("held libvirt-daemon") || l.includes("enabled libvirtd"))).toBe(false);
    // 7 files + 2 installed + 2 held + 1 enabled
    expect(L[L.length - 1]).toBe("vdi-apply: host=vdi-compute-01 changes=12 restarts=2");
    expect(mode(d + "/etc/nova/nova.conf")).toBe(0o640);

    // second run: the host already matches; only read-only queries are made
    fake.clearLog();
    const r2 = runApply(
      text,
      fake.options({
        installed: { "libvirt-daemon": "9.0.0-4", "nova-compute": "2:27.1.0-0ubuntu1", "qemu-system-x86": "1:7.2+dfsg-7+deb12u6" },
        held: ["libvirt-daemon", "nova-compute", "qemu-system-x86"],
        enabled: ["libvirtd.service", "nova-compute.service"],
      }),
    );
    expect(r2.status).toBe(0);
    const readOnly = fake.calls().filter((c) => !["dpkg-query", "nproc"].includes(c[0]));
    expect(readOnly).toEqual([
      ["apt-mark", "showhold"],
      ["systemctl", "is-enabled", "--quiet", "nova-compute.service"],
      ["systemctl", "is-enabled", "--quiet", "libvirtd.service"],
    ]);
    expect(r2.lines).toEqual(["vdi-apply: host=vdi-compute-01 changes=0 restarts=0"]);
  });

  test("a package left in config-files state at the wanted version is (re)installed", () => {
    const fake = makeFakeSystem();
    const text = doc("/", [{ kind: "package", name: "nova-compute", version: "2:27.1.0-0ubuntu1" }]);
    const r = runApply(text, fake.options({ configFiles: { "nova-compute": "2:27.1.0-0ubuntu1" }, held: ["nova-compute"] }));
    expect(r.status).toBe(0);
    expect(fake.calls().filter((c) => c[0] === "apt-get").map((c) => c[c.length - 1])).toEqual(["-q", "nova-compute=2:27.1.0-0ubuntu1"]);
    expect(r.lines[r.lines.length - 1]).toBe("vdi-apply: host=vdi-compute-01 changes=1 restarts=0");
  });

  test.each([
    ["cpus", "9999", { nproc: 4 }, "declared cpus 9999 but host has 4"],
    ["ram_mb", "32768", { memTotalKb: 8_000_000 }, "declared ram_mb 32768 but host has 7812"],
    // 7812 MB is just under 90% of 8681 MB
    ["ram_mb", "8681", { memTotalKb: 8_000_000 }, "declared ram_mb 8681 but host has 7812"],
  ])("fact %s %s verify on a smaller host -> exit 3, nothing changed", (key, value, state, message) => {
    const fake = makeFakeSystem();
    const text = fleetDoc(fake.dir, fake.log, [{ kind: "fact", fact: { key, value, verify: true } }]);
    const r = runApply(text, fake.options({ ...state }));
    expect(r.status).toBe(3);
    expect(r.stderr.trim()).toBe(`vdi-apply: ${message}`);
    expect(listTree(fake.dir)).toEqual([]);
    expect(fake.calls().filter((c) => !["nproc"].includes(c[0]))).toEqual([]);
  });

  test("ram_mb at exactly 90% passes", () => {
    const fake = makeFakeSystem();
    const text = doc("/", [{ kind: "fact", fact: { key: "ram_mb", value: "8680", verify: true } }]);
    const r = runApply(text, fake.options({ memTotalKb: 8_000_000 }));
    expect(r.status).toBe(0);
    expect(r.lines).toEqual(["vdi-apply: host=vdi-compute-01 changes=0 restarts=0"]);
  });

  test("a failing restart exits 1 naming the unit, and the next run redoes the pending restarts", () => {
    const fake = makeFakeSystem();
    const text = fleetDoc(fake.dir, fake.log);
    const everything = {
      installed: { "libvirt-daemon": "9.0.0-4", "nova-compute": "2:27.1.0-0ubuntu1", "qemu-system-x86": "1:7.2+dfsg-7+deb12u6" },
      held: ["libvirt-daemon", "nova-compute", "qemu-system-x86"],
      enabled: ["libvirtd.service", "nova-compute.service"],
      sysctl: { "vm.swappiness": "60" },
    };
    const r = runApply(text, fake.options({ ...everything, failRestart: ["nova-compute.service"] }));
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/vdi-apply: error: systemctl restart nova-compute\.service failed/);
    expect(r.stderr).not.toContain("s3cr3t");
    expect(r.lines.some((l) => l.includes("host="))).toBe(false);

    // files are now up to date, but the restarts that did not happen are not forgotten
    fake.clearLog();
    const r2 = runApply(text, fake.options(everything));
    expect(r2.status).toBe(0);
    expect(r2.lines.filter((l) => l.includes("changed"))).toEqual([]);
    expect(fake.calls().filter((c) => c[0] === "systemctl" && c[1] !== "is-enabled")).toEqual([
      ["systemctl", "daemon-reload"],
      ["systemctl", "restart", "nova-compute.service"],
      ["systemctl", "restart", "libvirtd.service"],
    ]);
    expect(r2.lines[r2.lines.length - 1]).toBe("vdi-apply: host=vdi-compute-01 changes=0 restarts=2");

    // and once they succeeded, they are done
    fake.clearLog();
    const r3 = runApply(text, fake.options(everything));
    expect(r3.lines).toEqual(["vdi-apply: host=vdi-compute-01 changes=0 restarts=0"]);
  });

  test("pending actions the current document no longer declares are dropped", () => {
    const fake = makeFakeSystem();
    const d = fake.dir;
    const v1 = doc("/", [
      file(d + "/etc/a.conf", "a\n", { owner, group, actions: [{ kind: "restart", unit: "a.service" }] }),
      file(d + "/etc/b.conf", "b\n", { owner, group, actions: [{ kind: "restart", unit: "b.service" }] }),
    ]);
    expect(runApply(v1, fake.options({ failRestart: ["a.service"] })).status).toBe(1);
    const v2 = doc("/", [
      file(d + "/etc/a.conf", "a\n", { owner, group, actions: [{ kind: "restart", unit: "a.service" }] }),
      file(d + "/etc/b.conf", "b\n", { owner, group }),
    ]);
    fake.clearLog();
    const r = runApply(v2, fake.options({}));
    expect(r.status).toBe(0);
    expect(fake.calls()).toEqual([["systemctl", "restart", "a.service"]]);
    expect(r.lines[r.lines.length - 1]).toBe("vdi-apply: host=vdi-compute-01 changes=0 restarts=1");
  });

  test("a file owned by a user that does not exist is fatal in / mode", () => {
    const fake = makeFakeSystem();
    const text = doc("/", [file(fake.dir + "/etc/x.conf", "x\n", { owner: "vdi_nouser_zz", group: "vdi_nouser_zz" })]);
    const r = runApply(text, fake.options({}));
    expect(r.status).toBe(1);
    expect(r.stderr).toContain(`cannot chown ${fake.dir}/etc/x.conf`);
    expect(listTree(fake.dir)).toEqual(["etc/"]);
  });
});

describe('"/" mode: action phase order, start, needs and post', () => {
  const { owner, group } = currentOwner();
  const journalOf = (opts: { env?: Record<string, string> }) => path.join(opts.env!.VDI_APPLY_RUN_DIR, "vdi-apply.pending");
  /** An executable file of the host that logs "<tag>\t<its path>" to the stub log (and fails if <fail> exists). */
  const logger = (d: string, p: string, log: string, tag: string, extra: Partial<DocFile> = {}, fail = "/nonexistent") =>
    file(d + p, `#!/bin/bash\nprintf '${tag}\\t%s\\n' "$0" >> ${log}\n[[ ! -e ${fail} ]]\n`, { owner, group, mode: "0755", ...extra });

  test("daemon-reload, enables, sysctl, exec, restarts, starts, post", () => {
    const fake = makeFakeSystem();
    const d = fake.dir;
    const f = (p: string, content: string, extra: Partial<DocFile> = {}) => file(d + p, content, { owner, group, ...extra });
    // files listed so that document order differs from the phase order
    const text = doc("/", [
      f("/etc/rabbitmq/.erlang.cookie", "COOKIE\n", {
        mode: "0400",
        actions: [{ kind: "restart", unit: "rabbitmq-server.service" }, { kind: "post", path: d + "/usr/local/sbin/rabbit-users" }],
      }),
      logger(d, "/usr/local/sbin/rabbit-users", fake.log, "post"),
      f("/etc/neutron/openvswitch_agent.ini", "[ovs]\n", {
        actions: [{ kind: "restart", unit: "neutron-openvswitch-agent.service" }, { kind: "exec", path: d + "/usr/local/sbin/ovs-bridges" }],
      }),
      logger(d, "/usr/local/sbin/ovs-bridges", fake.log, "exec"),
      f("/etc/sysctl.d/90-vdi.conf", "net.ipv4.ip_forward = 1\n", { actions: [{ kind: "sysctl" }] }),
      f("/etc/systemd/system/vdi-agent.service", "[Service]\n", {
        actions: [{ kind: "restart", unit: "vdi-agent.service" }, { kind: "daemon-reload" }],
      }),
      { kind: "start", unit: "openvswitch-switch.service" },
      { kind: "start", unit: "libvirtd.service" },
      { kind: "enable", unit: "vdi-agent.service" },
    ]);
    const r = runApply(text, fake.options({ active: ["libvirtd.service"], sysctl: { "net.ipv4.ip_forward": "0" } }));
    expect(r.stderr).toBe("");
    expect(fake.sysctl("net.ipv4.ip_forward")).toBe("1");
    expect(r.status).toBe(0);
    const sys = fake.calls().filter((c) => ["systemctl", "sysctl", "exec", "post"].includes(c[0]) && !isHealthCall(c));
    expect(sys).toEqual([
      ["systemctl", "daemon-reload"],
      ["systemctl", "is-enabled", "--quiet", "vdi-agent.service"],
      ["systemctl", "enable", "vdi-agent.service"],
      ["exec", d + "/usr/local/sbin/ovs-bridges"],
      ["systemctl", "restart", "rabbitmq-server.service"],
      ["systemctl", "restart", "neutron-openvswitch-agent.service"],
      ["systemctl", "restart", "vdi-agent.service"],
      ["systemctl", "is-active", "--quiet", "openvswitch-switch.service"],
      ["systemctl", "start", "openvswitch-switch.service"],
      ["systemctl", "is-active", "--quiet", "libvirtd.service"],
      ["post", d + "/usr/local/sbin/rabbit-users"],
    ]);
    expect(r.lines).toContain("vdi-apply: started openvswitch-switch.service");
    expect(r.lines.some((l) => l.includes("libvirtd"))).toBe(false);
    expect(r.lines[r.lines.length - 1]).toBe("vdi-apply: host=vdi-compute-01 changes=7 restarts=4");
    expect(fs.existsSync(journalOf(fake.options({})))).toBe(false);
    // every changed file was synced (as its temp file, before the rename)
    expect(fake.calls().filter((c) => c[0] === "sync")).toHaveLength(6);
    expect(fake.calls().filter((c) => c[0] === "sync").every((c) => c[1] === "--" && c[2].includes("/.vdi-apply."))).toBe(true);
    expect(fake.calls().filter((c) => c[0] === "sync-target").every((c) => c[1] === "file")).toBe(true);

    // nothing changed: starts are still checked every run (no journal needed), nothing else runs
    fake.clearLog();
    const r2 = runApply(text, fake.options({ active: ["libvirtd.service"], enabled: ["vdi-agent.service"] }));
    expect(r2.status).toBe(0);
    expect(fake.calls({ health: true })).toEqual([
      ["systemctl", "is-enabled", "--quiet", "vdi-agent.service"],
      ["systemctl", "is-active", "--quiet", "openvswitch-switch.service"],
      ["systemctl", "start", "openvswitch-switch.service"],
      ["systemctl", "is-active", "--quiet", "libvirtd.service"],
      ["systemctl", "is-active", "openvswitch-switch.service"],
      ["systemctl", "is-active", "openvswitch-switch.service"],
    ]);
    expect(r2.lines).toEqual(["vdi-apply: started openvswitch-switch.service", "vdi-apply: host=vdi-compute-01 changes=0 restarts=1"]);

    fake.clearLog();
    const r3 = runApply(text, fake.options({ active: ["libvirtd.service", "openvswitch-switch.service"], enabled: ["vdi-agent.service"] }));
    expect(fake.calls().filter((c) => c[1] === "start")).toEqual([]);
    expect(r3.lines).toEqual(["vdi-apply: host=vdi-compute-01 changes=0 restarts=0"]);
  });

  test("a failing post exits 1 and is redone by the next run (journaled)", () => {
    const fake = makeFakeSystem();
    const d = fake.dir;
    const flag = path.join(d, "fail-post");
    fs.writeFileSync(flag, "");
    const text = doc("/", [
      file(d + "/etc/a.conf", "a\n", {
        owner,
        group,
        actions: [{ kind: "post", path: d + "/usr/local/sbin/p" }, { kind: "restart", unit: "a.service" }],
      }),
      logger(d, "/usr/local/sbin/p", fake.log, "post", {}, flag),
    ]);
    const r1 = runApply(text, fake.options({}));
    expect(r1.status).toBe(1);
    expect(r1.stderr).toContain(`vdi-apply: error: post ${d}/usr/local/sbin/p failed`);
    expect(fake.calls().filter((c) => ["systemctl", "post"].includes(c[0]))).toEqual([
      ["systemctl", "restart", "a.service"],
      ["post", d + "/usr/local/sbin/p"],
    ]);

    fs.rmSync(flag);
    fake.clearLog();
    const r2 = runApply(text, fake.options({}));
    expect(r2.status).toBe(0);
    expect(fake.calls().filter((c) => ["systemctl", "post"].includes(c[0]))).toEqual([
      ["systemctl", "restart", "a.service"],
      ["post", d + "/usr/local/sbin/p"],
    ]);
    expect(r2.lines[r2.lines.length - 1]).toBe("vdi-apply: host=vdi-compute-01 changes=0 restarts=1");
  });

  test("needs: a restart is deferred (not an error, not counted, not journaled) until the file exists", () => {
    const fake = makeFakeSystem();
    const d = fake.dir;
    const creds = d + "/etc/nova/credentials.conf";
    const v = (conf: string) =>
      doc("/", [
        file(d + "/etc/nova/nova.conf", conf, { owner, group, actions: [{ kind: "restart", unit: "nova-compute.service" }] }),
        file(d + "/etc/libvirt/libvirtd.conf", conf, { owner, group, actions: [{ kind: "restart", unit: "libvirtd.service" }] }),
        { kind: "needs", unit: "nova-compute.service", path: creds },
      ]);
    const r1 = runApply(v("a\n"), fake.options({}));
    expect(r1.stderr).toBe("");
    expect(r1.status).toBe(0);
    expect(r1.lines).toContain(`vdi-apply: deferred nova-compute.service (waiting for ${creds})`);
    expect(fake.calls().filter((c) => c[0] === "systemctl")).toEqual([["systemctl", "restart", "libvirtd.service"]]);
    expect(r1.lines[r1.lines.length - 1]).toBe("vdi-apply: host=vdi-compute-01 changes=2 restarts=1");

    // the file appears (another document wrote it and restarted the unit itself): nothing is redone
    fs.writeFileSync(creds, "secret\n");
    fake.clearLog();
    const r2 = runApply(v("a\n"), fake.options({}));
    expect(r2.status).toBe(0);
    expect(fake.calls()).toEqual([]);
    expect(r2.lines).toEqual(["vdi-apply: host=vdi-compute-01 changes=0 restarts=0"]);

    // the next change of the document restarts it
    fake.clearLog();
    const r3 = runApply(v("b\n"), fake.options({}));
    expect(r3.status).toBe(0);
    expect(fake.calls().filter((c) => c[0] === "systemctl")).toEqual([
      ["systemctl", "restart", "nova-compute.service"],
      ["systemctl", "restart", "libvirtd.service"],
    ]);
    expect(r3.lines.some((l) => l.includes("deferred"))).toBe(false);
    expect(r3.lines[r3.lines.length - 1]).toBe("vdi-apply: host=vdi-compute-01 changes=2 restarts=2");
  });

  test("needs: a deferred restart is dropped from the journal even when a later action fails", () => {
    const fake = makeFakeSystem();
    const d = fake.dir;
    const creds = d + "/etc/nova/credentials.conf";
    const opts = fake.options({});
    const text = doc("/", [
      file(d + "/etc/nova/nova.conf", "a\n", {
        owner,
        group,
        actions: [{ kind: "restart", unit: "nova-compute.service" }, { kind: "post", path: d + "/usr/local/sbin/p" }],
      }),
      logger(d, "/usr/local/sbin/p", fake.log, "post", {}, d + "/usr/local/sbin/p"), // always fails
      { kind: "needs", unit: "nova-compute.service", path: creds },
    ]);
    const r = runApply(text, opts);
    expect(r.status).toBe(1);
    expect(r.lines).toContain(`vdi-apply: deferred nova-compute.service (waiting for ${creds})`);
    expect(fs.readFileSync(journalOf(opts), "utf8")).toBe(`post ${d}/usr/local/sbin/p\n`);
  });

  test("needs: several paths must all exist; a start waits too and is reported once per unit", () => {
    const fake = makeFakeSystem();
    const d = fake.dir;
    const a = d + "/etc/nova/a.conf";
    const b = d + "/etc/nova/b.conf";
    const text = doc("/", [
      file(d + "/etc/nova/nova.conf", "a\n", { owner, group, actions: [{ kind: "restart", unit: "nova-compute.service" }] }),
      { kind: "needs", unit: "nova-compute.service", path: a },
      { kind: "needs", unit: "nova-compute.service", path: b },
      { kind: "start", unit: "nova-compute.service" },
    ]);
    fs.mkdirSync(d + "/etc/nova", { recursive: true });
    fs.writeFileSync(a, "");
    const r1 = runApply(text, fake.options({}));
    expect(r1.status).toBe(0);
    expect(r1.lines.filter((l) => l.includes("deferred"))).toEqual([`vdi-apply: deferred nova-compute.service (waiting for ${b})`]);
    expect(fake.calls().filter((c) => c[0] === "systemctl")).toEqual([]);
    expect(r1.lines[r1.lines.length - 1]).toBe("vdi-apply: host=vdi-compute-01 changes=1 restarts=0");

    fs.writeFileSync(b, "");
    fake.clearLog();
    const r2 = runApply(text, fake.options({}));
    expect(r2.status).toBe(0);
    expect(fake.calls()).toEqual([
      ["systemctl", "is-active", "--quiet", "nova-compute.service"],
      ["systemctl", "start", "nova-compute.service"],
    ]);
    expect(r2.lines).toEqual(["vdi-apply: started nova-compute.service", "vdi-apply: host=vdi-compute-01 changes=0 restarts=1"]);
  });
});

describe('"/" mode: package installs', () => {
  const PKG: DocEntry = { kind: "package", name: "openvswitch-switch", version: "3.1.0-2+deb12u1" };
  const INSTALL = [...APT_INSTALL, "openvswitch-switch=3.1.0-2+deb12u1"];
  const text = doc("/", [PKG]);
  const MARK = /^POLICY_MARK='(.*)'$/m.exec(SCRIPT_TEXT)![1];
  const packageTools = (calls: string[][]) => calls.filter((c) => ["dpkg", "apt-get", "policy", "apt-get-ovs", "dpkg-env"].includes(c[0]));
  const siblings = (p: string) => fs.readdirSync(path.dirname(p)).sort();

  test("dpkg --configure -a first, all under a denying policy-rc.d, output in the log, then removed", () => {
    const fake = makeFakeSystem();
    const r = runApply(text, fake.options({ held: ["openvswitch-switch"] }));
    expect(r.stderr).toBe("");
    expect(r.status).toBe(0);
    expect(packageTools(fake.calls())).toEqual([
      ["dpkg", "--force-confold", "--configure", "-a"],
      ["policy", "dpkg", "denies"],
      ["dpkg-env", "DEBIAN_FRONTEND=noninteractive", "OVS_FORCE_RELOAD_KMOD=no"],
      ["apt-get", "update", "-q"],
      ["apt-get-ovs", "update", "OVS_FORCE_RELOAD_KMOD=no"],
      ["policy", "apt-get", "denies"],
      INSTALL,
      ["apt-get-ovs", "install", "OVS_FORCE_RELOAD_KMOD=no"],
      ["policy", "apt-get", "denies"],
    ]);
    // what invoke-rc.d is told meanwhile: every daemon action denied, but D-Bus may reload its configuration
    // (polkitd's postinst reloads it after adding its user; denied, libvirtd's polkit check times out)
    expect(new Map(fake.calls().filter((c) => c[0] === "verdict").map((c) => [c[1], c[2]]))).toEqual(
      new Map([
        ["dbus:reload", "0"],
        ["dbus:force-reload:--quiet", "0"],
        ["dbus:restart", "101"],
        ["dbus:reload restart", "101"],
        ["libvirtd:reload", "101"],
        ["libvirtd:start", "101"],
      ]),
    );
    // ours is gone, nothing else left next to it
    expect(siblings(fake.policyRcD)).toEqual([]);
    expect(r.lines).toEqual(["vdi-apply: installed openvswitch-switch=3.1.0-2+deb12u1", "vdi-apply: host=vdi-compute-01 changes=1 restarts=0"]);
    // apt/dpkg output went to the log, not to the SSH channel
    expect(r.stdout + r.stderr).not.toContain("stub");
    const log = fs.readFileSync(fake.aptLog, "utf8");
    expect(log).toMatch(/^==== \d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ vdi-apply host=vdi-compute-01: install openvswitch-switch=3\.1\.0-2\+deb12u1\n/);
    expect(log).toContain("dpkg: nothing to configure (stub)\n");
    expect(log.match(/Reading package lists\.\.\. \(stub\)/g)).toHaveLength(2);

    // a second install run appends, with its own header
    fake.clearLog();
    expect(runApply(text, fake.options({ held: ["openvswitch-switch"] })).status).toBe(0);
    const log2 = fs.readFileSync(fake.aptLog, "utf8");
    expect(log2.startsWith(log)).toBe(true);
    expect(log2.match(/^==== /gm)).toHaveLength(2);
  });

  test("an existing policy-rc.d is moved aside during the install and restored byte for byte", () => {
    const fake = makeFakeSystem();
    const original = "#!/bin/sh\n# site policy\nexit 0\n";
    fs.writeFileSync(fake.policyRcD, original, { mode: 0o750 });
    const r = runApply(text, fake.options({ held: ["openvswitch-switch"] }));
    expect(r.status).toBe(0);
    expect(fake.calls().filter((c) => c[0] === "policy")).toEqual([
      ["policy", "dpkg", "denies"],
      ["policy", "apt-get", "denies"],
      ["policy", "apt-get", "denies"],
    ]);
    expect(fs.readFileSync(fake.policyRcD, "utf8")).toBe(original);
    expect(mode(fake.policyRcD)).toBe(0o750);
    expect(siblings(fake.policyRcD)).toEqual(["policy-rc.d"]);
  });

  test("an apt failure: exit 1, the log tail on stderr, policy-rc.d restored", () => {
    const fake = makeFakeSystem();
    const original = "#!/bin/sh\nexit 0\n";
    fs.writeFileSync(fake.policyRcD, original, { mode: 0o755 });
    const r = runApply(text, fake.options({ failApt: ["install"] }));
    expect(r.status).toBe(1);
    expect(r.stdout).not.toContain("stub");
    const err = r.stderr.split("\n").filter((l) => l !== "");
    expect(err[0]).toBe(`vdi-apply: last lines of ${fake.aptLog}:`);
    // exactly the last 30 lines of this run's output
    expect(err.slice(1, 31)).toEqual(Array.from({ length: 30 }, (_, i) => `E: stub apt failure line ${i + 11}`));
    expect(err[31]).toBe("vdi-apply: error: apt-get install failed for: openvswitch-switch=3.1.0-2+deb12u1");
    expect(err).toHaveLength(32);
    expect(fs.readFileSync(fake.aptLog, "utf8")).toContain("E: stub apt failure line 1\n");
    expect(fs.readFileSync(fake.policyRcD, "utf8")).toBe(original);
    expect(siblings(fake.policyRcD)).toEqual(["policy-rc.d"]);
    expect(fake.calls().filter((c) => c[0] === "apt-mark")).toEqual([]);

    // without a policy-rc.d before: none after a failure either; only this run's part of the
    // log is shown (here shorter than 30 lines)
    const fake2 = makeFakeSystem();
    expect(runApply(text, fake2.options({ held: ["openvswitch-switch"] })).status).toBe(0);
    fake2.clearLog();
    const r2 = runApply(text, fake2.options({ failDpkg: true }));
    expect(r2.status).toBe(1);
    expect(r2.stderr).toBe(
      `vdi-apply: last lines of ${fake2.aptLog}:\n` +
        "dpkg: error processing package openvswitch-switch (--configure): stub\n" +
        "vdi-apply: error: dpkg --configure -a failed (finishing an earlier install)\n",
    );
    expect(fake2.calls().filter((c) => c[0] === "apt-get")).toEqual([]);
    expect(siblings(fake2.policyRcD)).toEqual([]);
  });

  test("leftovers of a killed run are cleaned up: ours removed, the saved original put back", () => {
    const ours = `#!/bin/sh\n${MARK}\nexit 101\n`;
    const original = "#!/bin/sh\nexit 0\n";
    // killed after writing ours, with an original moved aside
    const fake = makeFakeSystem();
    fs.writeFileSync(fake.policyRcD, ours, { mode: 0o755 });
    fs.writeFileSync(fake.policyRcD + ".vdi-apply-saved", original, { mode: 0o755 });
    expect(runApply(text, fake.options({ held: ["openvswitch-switch"] })).status).toBe(0);
    expect(fake.calls().filter((c) => c[0] === "policy").every((c) => c[2] === "denies")).toBe(true);
    expect(fs.readFileSync(fake.policyRcD, "utf8")).toBe(original);
    expect(siblings(fake.policyRcD)).toEqual(["policy-rc.d"]);

    // killed after writing ours, no original: ours is not mistaken for a site policy
    const fake2 = makeFakeSystem();
    fs.writeFileSync(fake2.policyRcD, ours, { mode: 0o755 });
    expect(runApply(text, fake2.options({ held: ["openvswitch-switch"] })).status).toBe(0);
    expect(siblings(fake2.policyRcD)).toEqual([]);

    // a foreign policy-rc.d AND a saved one: refuses to guess
    const fake3 = makeFakeSystem();
    fs.writeFileSync(fake3.policyRcD, original, { mode: 0o755 });
    fs.writeFileSync(fake3.policyRcD + ".vdi-apply-saved", "#!/bin/sh\nexit 1\n", { mode: 0o755 });
    const r3 = runApply(text, fake3.options({}));
    expect(r3.status).toBe(1);
    expect(r3.stderr).toContain("vdi-apply: error: both");
    expect(fake3.calls().filter((c) => ["dpkg", "apt-get"].includes(c[0]))).toEqual([]);
    expect(fs.readFileSync(fake3.policyRcD, "utf8")).toBe(original);
    expect(siblings(fake3.policyRcD)).toEqual(["policy-rc.d", "policy-rc.d.vdi-apply-saved"]);
  });

  test("SIGHUP during the install is ignored by the script and by apt", async () => {
    const fake = makeFakeSystem();
    const run = runApplyAsync(text, fake.options({ held: ["openvswitch-switch"], hangApt: true }));
    const { script, stub } = await fake.waitForHang();
    process.kill(script, "SIGHUP");
    process.kill(stub, "SIGHUP");
    await new Promise((res) => setTimeout(res, 100));
    fake.release();
    const r = await run;
    expect(r.stderr).toBe("");
    expect(r.status).toBe(0);
    expect(r.lines).toEqual(["vdi-apply: installed openvswitch-switch=3.1.0-2+deb12u1", "vdi-apply: host=vdi-compute-01 changes=1 restarts=0"]);
    expect(fs.readFileSync(fake.aptLog, "utf8")).toContain("stub apt-get install survived until released\n");
    expect(siblings(fake.policyRcD)).toEqual([]);
  });

  test("SIGTERM during the install: exit 143 once apt is done, policy-rc.d restored", async () => {
    const fake = makeFakeSystem();
    const original = "#!/bin/sh\nexit 0\n";
    fs.writeFileSync(fake.policyRcD, original, { mode: 0o755 });
    const run = runApplyAsync(text, fake.options({ hangApt: true }));
    const { script } = await fake.waitForHang();
    expect(fs.readFileSync(fake.policyRcD, "utf8")).toContain("exit 101");
    process.kill(script, "SIGTERM");
    await new Promise((res) => setTimeout(res, 100));
    fake.release();
    const r = await run;
    expect(r.status).toBe(143);
    expect(r.lines.some((l) => l.includes("installed"))).toBe(false);
    expect(fs.readFileSync(fake.policyRcD, "utf8")).toBe(original);
    expect(siblings(fake.policyRcD)).toEqual(["policy-rc.d"]);
  });

  test("nothing to install: no dpkg, no policy-rc.d, no log", () => {
    const fake = makeFakeSystem();
    const r = runApply(text, fake.options({ installed: { "openvswitch-switch": "3.1.0-2+deb12u1" }, held: ["openvswitch-switch"] }));
    expect(r.status).toBe(0);
    expect(fake.calls().filter((c) => c[0] !== "dpkg-query")).toEqual([["apt-mark", "showhold"]]);
    expect(fs.existsSync(fake.aptLog)).toBe(false);
    expect(siblings(fake.policyRcD)).toEqual([]);
  });
});

describe('"/" mode: upgrades, kernel settings, health and checks', () => {
  const { owner, group } = currentOwner();
  const journal = (opts: { env?: Record<string, string> }) => path.join(opts.env!.VDI_APPLY_RUN_DIR, "vdi-apply.pending");
  const pkgs: DocEntry[] = [
    { kind: "package", name: "openvswitch-switch", version: "3.1.0-2+deb12u1", restarts: ["openvswitch-switch.service", "neutron-openvswitch-agent.service"] },
    { kind: "package", name: "nova-compute", version: "2:26.2.2-1~deb12u5", restarts: ["nova-compute.service"] },
    { kind: "package", name: "qemu-system-x86", version: "1:7.2+dfsg-7+deb12u18+b3" },
  ];
  const restarts = (calls: string[][]) => calls.filter((c) => c[0] === "systemctl" && c[1] === "restart").map((c) => c[2]);

  test("an upgrade restarts what runs the package's code, in order; a first install or an unchanged version restarts nothing", () => {
    const fake = makeFakeSystem();
    const text = doc("/", pkgs);
    // first install: nothing ran the old code
    let r = runApply(text, fake.options({}));
    expect(r.status).toBe(0);
    expect(restarts(fake.calls())).toEqual([]);
    // upgrade of openvswitch and qemu; nova-compute already at the version
    fake.clearLog();
    r = runApply(text, fake.options({ installed: { "openvswitch-switch": "3.1.0-2", "nova-compute": "2:26.2.2-1~deb12u5", "qemu-system-x86": "1:7.2+dfsg-7+deb12u6" }, held: ["openvswitch-switch", "nova-compute", "qemu-system-x86"] }));
    expect(r.status).toBe(0);
    expect(restarts(fake.calls())).toEqual(["openvswitch-switch.service", "neutron-openvswitch-agent.service"]);
    expect(r.lines).toContain("vdi-apply: note: qemu-system-x86 1:7.2+dfsg-7+deb12u6 -> 1:7.2+dfsg-7+deb12u18+b3: nothing to restart; the new code runs after the next reboot or guest restart");
    expect(r.lines[r.lines.length - 1]).toBe("vdi-apply: host=vdi-compute-01 changes=2 restarts=2");
    // the restarted units were checked for health
    expect(fake.calls({ health: true }).filter(isHealthCall).map((c) => c[2])).toEqual(["openvswitch-switch.service", "neutron-openvswitch-agent.service", "openvswitch-switch.service", "neutron-openvswitch-agent.service"]);
  });

  test("the comparison's restart prediction (restartsOf) is what the script restarts", () => {
    const fake = makeFakeSystem();
    const d = fake.dir;
    const f = (p: string, content: string, unit: string, extra: Partial<DocFile> = {}) => file(d + p, content, { owner, group, actions: [{ kind: "restart", unit }], ...extra });
    const v1: DocEntry[] = [
      ...pkgs,
      f("/etc/a.conf", "a\n", "a.service"),
      f("/etc/nova/nova.conf", "[DEFAULT]\nram_allocation_ratio = 1.2\n", "nova-compute.service"),
      f("/etc/c.conf", "c\n", "c.service"),
    ];
    const v2: DocEntry[] = [
      // openvswitch upgraded, nova-compute unchanged, qemu upgraded (names no unit)
      { ...pkgs[0], version: "3.1.0-2+deb12u2" } as DocEntry,
      pkgs[1],
      { ...pkgs[2], version: "1:7.2+dfsg-7+deb12u19" } as DocEntry,
      f("/etc/a.conf", "a\n", "a.service"),
      f("/etc/nova/nova.conf", "[DEFAULT]\nram_allocation_ratio = 1.3\n", "nova-compute.service"),
      // mode only: rewritten, nothing restarted
      f("/etc/c.conf", "c\n", "c.service", { mode: "0600" }),
      // new file
      f("/etc/e.conf", "e\n", "e.service"),
    ];
    const [t1, t2] = [doc("/", v1), doc("/", v2)];
    expect(runApply(t1, fake.options({})).status).toBe(0);
    fake.clearLog();
    const installed = Object.fromEntries(v1.flatMap((e) => (e.kind === "package" ? [[e.name, e.version]] : [])));
    const r = runApply(t2, fake.options({ installed, held: Object.keys(installed) }));
    expect(r.status).toBe(0);
    const predicted = restartsOf(parseDocument(t1), parseDocument(t2));
    expect(predicted).toEqual(["openvswitch-switch.service", "neutron-openvswitch-agent.service", "nova-compute.service", "e.service"]);
    expect(restarts(fake.calls())).toEqual(predicted);
    // and converging the same document again restarts nothing, as predicted
    fake.clearLog();
    const now = Object.fromEntries(v2.flatMap((e) => (e.kind === "package" ? [[e.name, e.version]] : [])));
    expect(runApply(t2, fake.options({ installed: now, held: Object.keys(now) })).status).toBe(0);
    expect(restarts(fake.calls())).toEqual(restartsOf(parseDocument(t2), parseDocument(t2)));
    expect(restartsOf(parseDocument(t2), parseDocument(t2))).toEqual([]);
  });

  test("the upgrade's restarts are journaled before the install: a run that dies after it restarts them next time", () => {
    const fake = makeFakeSystem();
    const text = doc("/", pkgs);
    const old = { installed: { "openvswitch-switch": "3.1.0-2+deb12u1", "nova-compute": "2:26.2.1-1", "qemu-system-x86": "1:7.2+dfsg-7+deb12u18+b3" }, held: ["openvswitch-switch", "nova-compute", "qemu-system-x86"] };
    const r = runApply(text, fake.options({ ...old, failRestart: ["nova-compute.service"] }));
    expect(r.status).toBe(1);
    expect(fs.readFileSync(journal(fake.options({})), "utf8")).toContain("restart nova-compute.service");
    // next run: the new version is installed now, so only the journal knows nova-compute must restart
    fake.clearLog();
    const r2 = runApply(text, fake.options({ installed: { ...old.installed, "nova-compute": "2:26.2.2-1~deb12u5" }, held: old.held }));
    expect(r2.status).toBe(0);
    expect(r2.lines).toContain("vdi-apply: redoing actions left pending by an interrupted run");
    expect(restarts(fake.calls())).toEqual(["nova-compute.service"]);
    expect(fs.existsSync(journal(fake.options({})))).toBe(false);
  });

  test("sysctl keys are written and read back; in a container a key the kernel refuses is skipped with a line, elsewhere it fails", () => {
    const fake = makeFakeSystem();
    const d = fake.dir;
    const text = doc("/", [
      file(d + "/etc/sysctl.d/60-vdi.conf", "# comment\nnet.ipv4.tcp_keepalive_time = 600\nnet.netfilter.nf_conntrack_max = 1048576\n", { owner, group, actions: [{ kind: "sysctl" }] }),
    ]);
    const keys = { "net.ipv4.tcp_keepalive_time": "7200", "net.netfilter.nf_conntrack_max": "65536" };
    const r = runApply(text, fake.options({ sysctl: keys, readOnlySysctl: ["net.netfilter.nf_conntrack_max"], container: true }));
    expect(r.status).toBe(0);
    expect(fake.sysctl("net.ipv4.tcp_keepalive_time")).toBe("600");
    expect(r.lines).toContain("vdi-apply: skipped sysctl net.netfilter.nf_conntrack_max (the kernel does not let a container set it)");
    fs.rmSync(d + "/etc/sysctl.d/60-vdi.conf");
    const r2 = runApply(text, fake.options({ sysctl: keys, readOnlySysctl: ["net.netfilter.nf_conntrack_max"], container: false }));
    expect(r2.status).toBe(1);
    expect(r2.stderr).toMatch(/vdi-apply: error: sysctl net\.netfilter\.nf_conntrack_max = 1048576: .* is missing or refused the value/);
    fs.rmSync(d + "/etc/sysctl.d/60-vdi.conf");
    const r3 = runApply(text, fake.options({ sysctl: { "net.ipv4.tcp_keepalive_time": "7200" } }));
    expect(r3.status).toBe(1);
    expect(r3.stderr).toMatch(/sysctl net\.netfilter\.nf_conntrack_max = 1048576: .* is missing/);
  });

  test("a unit that is not active after its restart fails the converge (exit 4) and names it", () => {
    const fake = makeFakeSystem();
    const d = fake.dir;
    const text = doc("/", [file(d + "/etc/nova/nova.conf", "[DEFAULT]\n", { owner, group, actions: [{ kind: "restart", unit: "nova-compute.service" }] }), { kind: "start", unit: "libvirtd.service" }]);
    const r = runApply(text, fake.options({ dies: ["nova-compute.service"] }));
    expect(r.status).toBe(4);
    expect(r.stderr).toContain("vdi-apply: error: nova-compute.service is failed after this run (re)started it");
    expect(r.lines.some((l) => l.includes("host="))).toBe(false);
  });

  test("a unit systemd skipped for an unmet Condition (the KSM unit where KSM's sysfs is read-only) is a warning, not a failure", () => {
    const fake = makeFakeSystem();
    const d = fake.dir;
    const text = doc("/", [file(d + "/etc/systemd/system/vdi-ksm.service", "[Unit]\n", { owner, group, actions: [{ kind: "restart", unit: "vdi-ksm.service" }] })]);
    const r = runApply(text, fake.options({ skipped: ["vdi-ksm.service"] }));
    expect(r.status).toBe(0);
    expect(r.stderr).toContain("vdi-apply: warning: vdi-ksm.service skipped: a Condition of the unit is not met");
    expect(fake.calls({ health: true })).toContainEqual(["systemctl", "show", "-p", "ConditionResult", "--value", "vdi-ksm.service"]);
    // inactive with its conditions met (it exited): a failure
    const r2 = runApply(text.replace("[Unit]", "[Unit]\\nDescription=changed"), fake.options({ exits: ["vdi-ksm.service"] }));
    expect(r2.status).toBe(4);
    expect(r2.stderr).toContain("vdi-apply: error: vdi-ksm.service is inactive after this run (re)started it");
  });

  test("checks run after the actions unless their unit is deferred; a failing one exits 4", () => {
    const fake = makeFakeSystem();
    const d = fake.dir;
    const flag = path.join(d, "cluster-broken");
    const text = doc("/", [
      file(d + "/usr/local/lib/vdi/cluster-check", `#!/bin/bash\nprintf 'check\\t%s\\n' "$0" >> ${fake.log}\n[[ ! -e ${flag} ]]\n`, { owner, group, mode: "0755" }),
      { kind: "needs", unit: "rabbitmq-server.service", path: d + "/etc/vdi/rabbitmq-users" },
      { kind: "check", unit: "rabbitmq-server.service", path: d + "/usr/local/lib/vdi/cluster-check" },
    ]);
    // deferred: the broker waits for its credentials, so its check does not run
    let r = runApply(text, fake.options({}));
    expect(r.status).toBe(0);
    expect(fake.calls().filter((c) => c[0] === "check")).toEqual([]);
    fs.mkdirSync(d + "/etc/vdi", { recursive: true });
    fs.writeFileSync(d + "/etc/vdi/rabbitmq-users", "");
    fake.clearLog();
    r = runApply(text, fake.options({}));
    expect(r.status).toBe(0);
    expect(fake.calls().filter((c) => c[0] === "check")).toEqual([["check", d + "/usr/local/lib/vdi/cluster-check"]]);
    fs.writeFileSync(flag, "");
    r = runApply(text, fake.options({}));
    expect(r.status).toBe(4);
    expect(r.stderr).toContain(`vdi-apply: error: check ${d}/usr/local/lib/vdi/cluster-check (for rabbitmq-server.service) failed`);
  });
});
