/**
 * What the booted lab's hosts are made from, cached outside the repository
 * (/var/tmp/vdi-lab-cache, kept between runs so a warm machine is fast):
 *
 *  - the root file system: Debian 12 minbase with systemd, sshd and iproute2
 *    (debootstrap, from the machine's own apt sources, in the root namespace);
 *  - the packages: the closure of every pinned version the lab's host documents
 *    name (plus the lab's control plane), downloaded once from Debian's archive;
 *  - a signed apt repository of them, the archive the lab's version set names
 *    (its key is a lab-only fixture: inventory/apt/lab-archive.asc, private half
 *    in test/fixtures/lab-apt-key/), plus a newer build of one pinned package
 *    (rabbitmq-server …+lab1) for the upgrade check.
 *
 * Each step builds into a temporary directory and renames it, so an interrupted
 * build is never reused; a stamp records what it was built from.
 */
import * as crypto from "crypto";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { must, run } from "../sys";
import { PROJECT_DIR } from "../../review/evaluate";

export const CACHE_DIR = "/var/tmp/vdi-lab-cache";
export const ROOTFS_DIR = path.join(CACHE_DIR, "rootfs");
export const DEBS_DIR = path.join(CACHE_DIR, "debs");
export const REPO_DIR = path.join(CACHE_DIR, "repo");
/** The suite the lab's repository serves (Pulumi.lab.yaml's aptSource.suite). */
export const LAB_SUITE = "bookworm-lab";
/** The newer build of a pinned package the upgrade check moves to. */
export const UPGRADE_PACKAGE = "rabbitmq-server";
export const UPGRADE_SUFFIX = "+lab1";

const APT_KEY_PUBLIC = path.join(PROJECT_DIR, "inventory", "apt", "lab-archive.asc");
const APT_KEY_SECRET = path.join(PROJECT_DIR, "test", "fixtures", "lab-apt-key", "lab-archive.secret.asc");

const stamp = (dir: string) => path.join(dir, ".vdi-lab-stamp");
const sha = (s: string) => crypto.createHash("sha256").update(s).digest("hex").slice(0, 16);

/** Replaces `dir` by what `build` writes into a fresh temporary directory beside it. */
function atomically(dir: string, key: string, build: (tmp: string) => void): boolean {
  if (fs.existsSync(stamp(dir)) && fs.readFileSync(stamp(dir), "utf8") === key) return false;
  const tmp = `${dir}.tmp`;
  fs.rmSync(tmp, { recursive: true, force: true });
  fs.mkdirSync(tmp, { recursive: true });
  build(tmp);
  fs.writeFileSync(stamp(tmp), key);
  fs.rmSync(dir, { recursive: true, force: true });
  fs.renameSync(tmp, dir);
  return true;
}

/**
 * Settings of the lab's image that make package installs fast on this machine
 * (measured: the install phase is CPU-bound dpkg work). They change the machine
 * the packages land on, not what the stack does: the stack still runs
 * `apt-get install pkg=version` under its policy-rc.d. Listed in the report.
 */
export const IMAGE_DEVIATIONS = [
  "dpkg force-unsafe-io (no fsync per unpacked file)",
  "documentation, man pages and locales not unpacked (dpkg path-exclude)",
  "Python byte-compilation at install skipped (py3compile diverted): Python compiles modules on first import",
  "no initramfs built for the kernel package (update-initramfs diverted): a container boots no kernel of its own",
];

function tweakImage(root: string): void {
  const cfg = path.join(root, "etc", "dpkg", "dpkg.cfg.d");
  fs.mkdirSync(cfg, { recursive: true });
  fs.writeFileSync(path.join(cfg, "vdi-lab-unsafe-io"), "force-unsafe-io\n");
  fs.writeFileSync(
    path.join(cfg, "vdi-lab-nodoc"),
    ["path-exclude=/usr/share/doc/*", "path-include=/usr/share/doc/*/copyright", "path-exclude=/usr/share/man/*", "path-exclude=/usr/share/info/*", "path-exclude=/usr/share/locale/*", "path-include=/usr/share/locale/locale.alias", ""].join("\n"),
  );
  must("chroot", [root, "dpkg-divert", "--quiet", "--local", "--rename", "--divert", "/usr/bin/py3compile.vdi-lab", "--add", "/usr/bin/py3compile"]);
  must("chroot", [root, "dpkg-divert", "--quiet", "--local", "--rename", "--divert", "/usr/sbin/update-initramfs.vdi-lab", "--add", "/usr/sbin/update-initramfs"]);
  fs.writeFileSync(path.join(root, "usr", "sbin", "update-initramfs"), "#!/bin/sh\necho 'update-initramfs: not in the lab image (a container boots no kernel of its own)' >&2\nexit 0\n", { mode: 0o755 });
}

/** The cached root file system (debootstrap of bookworm minbase with systemd and sshd). */
export function buildRootfs(log: (l: string) => void): void {
  const key = `rootfs v1 ${IMAGE_DEVIATIONS.length}`;
  const t0 = Date.now();
  const built = atomically(ROOTFS_DIR, key, (tmp) => {
    const mirror = debianMirror();
    log(`building the root file system (debootstrap bookworm from ${mirror}; a few minutes, once)`);
    must("debootstrap", ["--variant=minbase", "--include=systemd,systemd-sysv,dbus,openssh-server,iproute2,ca-certificates,procps,kmod,iputils-ping", "bookworm", tmp, mirror], { timeoutMs: 30 * 60_000 });
    // Kernel settings a container can never apply: systemd-sysctl would fail on them at every boot.
    for (const f of ["50-pid-max.conf", "99-protect-links.conf"]) {
      fs.rmSync(path.join(tmp, "etc", "sysctl.d", f), { force: true });
      fs.symlinkSync("/dev/null", path.join(tmp, "etc", "sysctl.d", f));
    }
    for (const f of fs.readdirSync(path.join(tmp, "etc", "ssh")).filter((f) => f.startsWith("ssh_host_"))) fs.rmSync(path.join(tmp, "etc", "ssh", f));
    for (const f of fs.readdirSync(path.join(tmp, "var", "cache", "apt", "archives")).filter((f) => f.endsWith(".deb"))) fs.rmSync(path.join(tmp, "var", "cache", "apt", "archives", f));
    fs.writeFileSync(path.join(tmp, "etc", "machine-id"), "");
    // Only the stack's apt source: the hosts reach no other archive.
    fs.rmSync(path.join(tmp, "etc", "apt", "sources.list"), { force: true });
    tweakImage(tmp);
  });
  if (built) log(`root file system built in ${((Date.now() - t0) / 1000).toFixed(0)} s`);
}

/** The Debian mirror of the machine's own apt sources (debootstrap and the downloads use it, from the root namespace). */
export function debianMirror(): string {
  const texts = [
    ...(fs.existsSync("/etc/apt/sources.list") ? [fs.readFileSync("/etc/apt/sources.list", "utf8")] : []),
    ...(fs.existsSync("/etc/apt/sources.list.d") ? fs.readdirSync("/etc/apt/sources.list.d").map((f) => fs.readFileSync(path.join("/etc/apt/sources.list.d", f), "utf8")) : []),
  ].join("\n");
  const m = /^URIs:\s*(\S+\/debian\/?)\s*$/m.exec(texts) ?? /^deb\s+(?:\[[^\]]*\]\s+)?(\S+\/debian\/?)\s+bookworm\s/m.exec(texts);
  return m ? m[1] : "http://deb.debian.org/debian";
}

/**
 * Downloads (root namespace, the machine's apt sources) every .deb needed to install these exact
 * versions with --no-install-recommends on the root file system, into the cache.
 */
export function downloadClosure(specs: string[], log: (l: string) => void): void {
  fs.mkdirSync(path.join(DEBS_DIR, "partial"), { recursive: true });
  const opts = ["-o", `Dir::State::status=${path.join(ROOTFS_DIR, "var", "lib", "dpkg", "status")}`, "-o", `Dir::Cache::archives=${DEBS_DIR}/`, "-o", "APT::Install-Recommends=false", "-o", "APT::Install-Suggests=false"];
  const sim = run("apt-get", ["-s", ...opts, "install", ...specs], { timeoutMs: 10 * 60_000 });
  const wanted = [...sim.stdout.matchAll(/^Inst (\S+) (?:\[[^\]]*\] )?\((\S+)/gm)].map((m) => `${m[1]}_${m[2].replace(/^\d+:/, "")}`);
  // Cached files are name_version_arch.deb with the epoch's colon written %3a ("qemu-system-x86_1%3a7.2…").
  const have = new Set(fs.readdirSync(DEBS_DIR).filter((f) => f.endsWith(".deb")).map((f) => f.replace(/_[^_]+\.deb$/, "").replace(/_\d+%3a/, "_")));
  const missing = wanted.filter((w) => !have.has(w));
  if (sim.status === 0 && missing.length === 0) return;
  log(`downloading the closure of ${specs.length} pinned packages (${missing.length} .deb files; Debian's archive, from the root namespace)`);
  must("apt-get", ["-y", "-q", "--download-only", ...opts, "install", ...specs], { timeoutMs: 30 * 60_000 });
  fs.rmSync(path.join(DEBS_DIR, "partial"), { recursive: true, force: true });
  fs.rmSync(path.join(DEBS_DIR, "lock"), { force: true });
}

/** The lab's signed apt repository (dists/bookworm-lab), rebuilt when the cached .debs change. */
export function buildRepo(log: (l: string) => void): { upgradeVersion: string } {
  const debs = fs.readdirSync(DEBS_DIR).filter((f) => f.endsWith(".deb")).sort();
  const orig = debs.find((f) => f.startsWith(`${UPGRADE_PACKAGE}_`));
  if (!orig) throw new Error(`the closure has no ${UPGRADE_PACKAGE} .deb to build the upgrade from`);
  const origVersion = must("dpkg-deb", ["-f", path.join(DEBS_DIR, orig), "Version"]).trim();
  const upgradeVersion = `${origVersion}${UPGRADE_SUFFIX}`;
  const key = `repo v1 ${sha(debs.join("\n") + fs.readFileSync(APT_KEY_PUBLIC, "utf8"))}`;
  const t0 = Date.now();
  const built = atomically(REPO_DIR, key, (tmp) => {
    log(`building the lab's signed apt repository (${debs.length} packages and ${UPGRADE_PACKAGE} ${upgradeVersion})`);
    const pool = path.join(tmp, "pool", "main");
    const dists = path.join(tmp, "dists", LAB_SUITE);
    fs.mkdirSync(pool, { recursive: true });
    fs.mkdirSync(path.join(dists, "main", "binary-amd64"), { recursive: true });
    for (const d of debs) fs.linkSync(path.join(DEBS_DIR, d), path.join(pool, d));
    // The newer build: the same package with a higher version (no same-source exact dependency on it).
    const work = fs.mkdtempSync(path.join(os.tmpdir(), "vdi-lab-repack-"));
    try {
      must("dpkg-deb", ["-R", path.join(DEBS_DIR, orig), path.join(work, "pkg")]);
      const control = path.join(work, "pkg", "DEBIAN", "control");
      fs.writeFileSync(control, fs.readFileSync(control, "utf8").replace(/^Version: .*$/m, `Version: ${upgradeVersion}`));
      const arch = must("dpkg-deb", ["-f", path.join(DEBS_DIR, orig), "Architecture"]).trim();
      must("dpkg-deb", ["-b", path.join(work, "pkg"), path.join(pool, `${UPGRADE_PACKAGE}_${upgradeVersion}_${arch}.deb`)], { timeoutMs: 300_000 });
    } finally {
      fs.rmSync(work, { recursive: true, force: true });
    }
    const packages = must("dpkg-scanpackages", ["-m", "pool/main", "/dev/null"], { cwd: tmp, timeoutMs: 300_000 });
    fs.writeFileSync(path.join(dists, "main", "binary-amd64", "Packages"), packages);
    must("gzip", ["-9kn", path.join(dists, "main", "binary-amd64", "Packages")]);
    const release = must(
      "apt-ftparchive",
      ["-o", "APT::FTPArchive::Release::Origin=vdi-lab", "-o", "APT::FTPArchive::Release::Label=vdi-lab", "-o", `APT::FTPArchive::Release::Suite=${LAB_SUITE}`, "-o", `APT::FTPArchive::Release::Codename=${LAB_SUITE}`, "-o", "APT::FTPArchive::Release::Architectures=amd64", "-o", "APT::FTPArchive::Release::Components=main", "release", `dists/${LAB_SUITE}`],
      { cwd: tmp },
    );
    fs.writeFileSync(path.join(dists, "Release"), release);
    // Signed with the lab's fixture key, in a throwaway keyring.
    const home = fs.mkdtempSync(path.join(os.tmpdir(), "vdi-lab-gpg-"));
    try {
      const env = { ...process.env, GNUPGHOME: home };
      must("gpg", ["--batch", "--import", APT_KEY_SECRET], { env });
      must("gpg", ["--batch", "--yes", "--clearsign", "-o", path.join(dists, "InRelease"), path.join(dists, "Release")], { env });
      must("gpg", ["--batch", "--yes", "--armor", "--detach-sign", "-o", path.join(dists, "Release.gpg"), path.join(dists, "Release")], { env });
    } finally {
      fs.rmSync(home, { recursive: true, force: true });
    }
  });
  if (built) log(`repository built in ${((Date.now() - t0) / 1000).toFixed(0)} s`);
  return { upgradeVersion };
}
