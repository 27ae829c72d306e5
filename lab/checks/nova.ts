/**
 * nova: the converged compute hosts' nova.conf and the desktop flavors' extra
 * specs, judged by nova's and oslo.config's own code (python3-nova, run by
 * ../py/nova_validate.py in one interpreter for all hosts and controls):
 *
 * - nova.conf passes oslo-config-validator with nova.conf's namespace plus every
 *   namespace that defines an option the file sets (found from the file); the
 *   credentials file's option names too. "not part of the sample config" fails;
 *   deprecations are only reported.
 * - nova.conf plus nova.conf.d loads into nova.conf.CONF and every registered
 *   option of every group present is read, so nova's option types, ranges and
 *   choices judge the values; a few key values are reported, secrets never.
 * - every extra spec of every desktop flavor passes nova's extra-spec validators.
 *
 * Negative controls (first compute host): a misspelled option is rejected by the
 * validator; wrong types/ranges fail to load; bad extra specs are rejected.
 *
 * Which files are nova's is read from the hosts' documents (converge and
 * credentials), the files themselves from each host's root. Values of the
 * credentials document are scrubbed from everything recorded.
 */
import * as fs from "fs";
import * as path from "path";
import { PROJECT_DIR } from "../../review/evaluate";
import { plain } from "../../formats/pulumiWire";
import { docFiles, type DocFile, type HostDocument } from "../../formats/document";
import { parseIni } from "../../formats/ini";
import { hostCommandName } from "../../shipped/naming";
import { run } from "../sys";
import { shippedDocument } from "../../shipped/stack";
import type { Check, Lab, LabHost, Recorder } from "../types";
import { NOVA_CONF } from "../../facts/paths";
import { FLAVOR } from "../../shipped/naming";

const PYTHON = "/usr/bin/python3";
const HELPER = path.join(PROJECT_DIR, "lab", "py", "nova_validate.py");
const NOVA_DIR = "/etc/nova/";
const FLAVOR_TYPE = FLAVOR;
/** Values reported from the loaded configuration (never secret ones: the helper withholds those). */
const REPORT: Array<[string, string]> = [
  ["DEFAULT", "ram_allocation_ratio"],
  ["DEFAULT", "cpu_allocation_ratio"],
  ["DEFAULT", "reserved_host_memory_mb"],
  ["DEFAULT", "max_concurrent_builds"],
  ["compute", "max_concurrent_disk_ops"],
];


/** Sets `key` (renamed to `newKey`) to `value` in `section` of an oslo.config file; appends it when absent. */
export function setIniOption(text: string, section: string, key: string, value: string, newKey = key): string {
  const lines = text.split("\n");
  let cur = "";
  let sectionEnd = -1;
  for (let i = 0; i < lines.length; i++) {
    const m = /^\s*\[([^\]]+)\]\s*$/.exec(lines[i]);
    if (m) {
      if (cur === section && sectionEnd < 0) sectionEnd = i;
      cur = m[1];
      continue;
    }
    if (cur === section && new RegExp(`^\\s*${key.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}\\s*=`).test(lines[i])) {
      lines[i] = `${newKey} = ${value}`;
      return lines.join("\n");
    }
  }
  if (cur === section && sectionEnd < 0) sectionEnd = lines.length;
  if (sectionEnd < 0) return `${text.replace(/\n*$/, "\n")}\n[${section}]\n${newKey} = ${value}\n`;
  lines.splice(sectionEnd, 0, `${newKey} = ${value}`);
  return lines.join("\n");
}

interface ValidateResult {
  id: string;
  namespaces: string[];
  addedFor: Record<string, string>;
  rc: number;
  errors: string[];
  warnings: string[];
  infos: string[];
}
interface LoadResult {
  id: string;
  ok: boolean;
  errors: string[];
  warnings: string[];
  read: Record<string, { read: number; registered: number }>;
  values: Record<string, { value?: unknown; from?: string; withheld?: string; error?: string }>;
  secretOptionsSet: string[];
  configFiles?: string[];
  configDirs?: string[];
  keystoneauth?: string[];
  /** Options the files set that no registered option of nova (or of the namespaces it uses) reads. */
  unregistered?: string[];
}
interface SpecResult {
  id: string;
  ok: boolean;
  validator: string | null;
  error?: string;
}
interface HelperOutput {
  timings: Record<string, number>;
  validate: ValidateResult[];
  load: LoadResult[];
  extraSpecs: { validators: number; results: SpecResult[] };
}

interface HostPlan {
  host: LabHost;
  novaConf: string;
  confDirs: string[];
  secretFiles: string[];
  /** section/option names the credentials document sets (names only). */
  secretNames: string[];
}

const short = (s: string, n = 600) => (s.length > n ? s.slice(0, n) + "…" : s);
const secs = (ms: number) => `${(ms / 1000).toFixed(2)} s`;

export const novaCheck: Check = {
  id: "nova",
  title: "nova.conf and flavor extra specs against nova's own validators",
  needs: [
    { pkg: "python3-nova", path: "/usr/lib/python3/dist-packages/nova/__init__.py" },
    { pkg: "python3-oslo.config", path: "/usr/bin/oslo-config-validator" },
    { pkg: "python3-minimal", path: PYTHON },
  ],
  async run(lab: Lab, rec: Recorder): Promise<void> {
    const started = Date.now();
    const computes = lab.hostsWithRole("compute");
    if (computes.length === 0) throw new Error("the lab has no compute host");

    // Secret values (from the credentials documents, kept in memory only) are scrubbed from every detail.
    const secrets = new Set<string>();
    const scrub = (s: string | undefined): string | undefined => {
      if (s === undefined) return s;
      let out = s;
      for (const v of [...secrets].sort((a, b) => b.length - a.length)) out = out.split(v).join("<secret>");
      return out;
    };
    const record = (ok: boolean, what: string, detail?: string, negative = false) =>
      rec.expect(ok, what, scrub(detail), negative);

    // Which files are nova's, from the documents; read from each host's root.
    const plans: HostPlan[] = [];
    for (const host of computes) {
      const converge = shippedDocument(lab.evaluation, host.name, "converge");
      if (!converge) throw new Error(`no ${hostCommandName(host.name, "converge")} document in the evaluation`);
      const credentials = shippedDocument(lab.evaluation, host.name, "credentials");
      const novaFiles = (d: HostDocument | undefined): DocFile[] => (d ? docFiles(d).filter((f) => f.path.startsWith(NOVA_DIR) && f.path.endsWith(".conf")) : []);
      const secretDocFiles = novaFiles(credentials);
      for (const f of credentials ? docFiles(credentials) : []) {
        for (const [, keys] of parseIni(f.content)) for (const [, vals] of keys) for (const v of vals) if (v.length >= 3) secrets.add(v);
      }
      const main = novaFiles(converge).find((f) => f.path === NOVA_CONF);
      if (!main) {
        record(false, `${host.name}: nova.conf shipped`, `the converge document has no ${NOVA_CONF}`);
        continue;
      }
      const onHost = path.join(host.root, NOVA_CONF);
      if (!fs.existsSync(onHost)) {
        record(false, `${host.name}: nova.conf on the host`, `${onHost} is missing after the converge`);
        continue;
      }
      // Files of nova in a sub directory (nova.conf.d) are read through the directory, as nova-compute does.
      const inDirs = [...novaFiles(converge), ...secretDocFiles].filter((f) => path.dirname(f.path) !== path.dirname(NOVA_CONF));
      const confDirs = [...new Set(inDirs.map((f) => path.join(host.root, path.dirname(f.path))))];
      const missing = inDirs.map((f) => path.join(host.root, f.path)).filter((p) => !fs.existsSync(p));
      if (missing.length) record(false, `${host.name}: nova.conf.d files on the host`, `missing after the converge: ${missing.join(", ")}`);
      const secretNames = secretDocFiles.flatMap((f) => [...parseIni(f.content)].flatMap(([sec, keys]) => [...keys.keys()].map((k) => `[${sec}] ${k}`)));
      plans.push({ host, novaConf: onHost, confDirs, secretFiles: secretDocFiles.map((f) => path.join(host.root, f.path)), secretNames });
    }
    if (plans.length === 0) return;

    const flavors = lab.evaluation.resources
      .filter((r) => r.type === FLAVOR_TYPE)
      .map((r) => {
        const i = plain(r.inputs) as { name?: string; extraSpecs?: Record<string, unknown> };
        return { name: i.name ?? r.name, specs: Object.entries(i.extraSpecs ?? {}).map(([k, v]) => [k, String(v)] as [string, string]) };
      });

    // Negative controls, made from the first compute host's rendered nova.conf.
    const scratch = lab.scratch("nova");
    const base = fs.readFileSync(plans[0].novaConf, "utf8");
    const neg = (name: string, text: string) => {
      const p = path.join(scratch, name);
      fs.writeFileSync(p, text);
      return p;
    };
    const misspelled = neg("misspelled.conf", setIniOption(base, "DEFAULT", "ram_allocation_ratio", base.match(/^ram_allocation_ratio\s*=\s*(\S+)/m)?.[1] ?? "1.0", "ram_allocaton_ratio"));
    const typeControls = [
      { id: "neg-float", group: "DEFAULT", option: "ram_allocation_ratio", value: "many" },
      { id: "neg-range", group: "DEFAULT", option: "max_concurrent_builds", value: "-1" },
      { id: "neg-int", group: "compute", option: "max_concurrent_disk_ops", value: "1.5" },
    ].map((c) => ({ ...c, file: neg(`${c.id}.conf`, setIniOption(base, c.group, c.option, c.value)) }));
    const badSpecs: Array<[string, string, string]> = [
      ["neg-spec-value", "hw:cpu_policy", "sometimes"],
      ["neg-spec-key", "hw:cpu_polcy", "shared"],
    ];

    const job = {
      validate: [
        ...plans.map((p) => ({ id: `conf:${p.host.name}`, file: p.novaConf, baseNamespaces: ["nova.conf"] })),
        ...plans.flatMap((p) => p.secretFiles.filter((f) => fs.existsSync(f)).map((f, i) => ({ id: `cred:${p.host.name}:${i}`, file: f, baseNamespaces: ["nova.conf"] }))),
        { id: "neg-name", file: misspelled, baseNamespaces: ["nova.conf"] },
        ...typeControls.map((c) => ({ id: `names-only:${c.id}`, file: c.file, baseNamespaces: ["nova.conf"] })),
      ],
      load: [
        ...plans.map((p) => ({ id: `load:${p.host.name}`, files: [p.novaConf], dirs: p.confDirs, secretFiles: p.secretFiles, report: REPORT })),
        ...typeControls.map((c) => ({ id: c.id, files: [c.file], dirs: [], secretFiles: [], report: [] })),
      ],
      extraSpecs: [
        ...flavors.flatMap((f) => f.specs.map(([key, value]) => ({ id: `flavor:${f.name}:${key}`, key, value }))),
        ...badSpecs.map(([id, key, value]) => ({ id, key, value })),
      ],
    };
    const t0 = Date.now();
    const r = run(PYTHON, [HELPER], { input: JSON.stringify(job), timeoutMs: 180_000, cwd: scratch });
    const wall = Date.now() - t0;
    if (r.status !== 0) throw new Error(`${HELPER} exited ${r.status}: ${scrub(r.stderr.trim().slice(-1500))}`);
    let out: HelperOutput;
    try {
      out = JSON.parse(r.stdout) as HelperOutput;
    } catch {
      throw new Error(`${HELPER} printed no JSON: ${scrub(r.stdout.slice(0, 300))}`);
    }
    const v = (id: string) => out.validate.find((x) => x.id === id);
    const l = (id: string) => out.load.find((x) => x.id === id);
    const s = (id: string) => out.extraSpecs.results.find((x) => x.id === id);
    const t = out.timings;
    const timing = {
      validate: `oslo-config-validator ${t.validate} s for all ${job.validate.length} files (one python interpreter for the whole check: ${secs(wall)}, check so far ${secs(Date.now() - started)})`,
      load: `option loading ${t.load} s for all ${job.load.length} loads`,
      specs: `${t.extraSpecs} s with load_validators()`,
    };

    const nsText = (x: ValidateResult) => x.namespaces.map((n) => (x.addedFor[n] ? `${n} (for ${x.addedFor[n]})` : n)).join(", ");
    for (const p of plans) {
      const h = p.host.name;
      // 1. option names
      const c = v(`conf:${h}`);
      if (c) {
        const notPart = c.errors.filter((e) => /not part of the sample config/.test(e));
        record(
          c.rc === 0 && c.errors.length === 0,
          `${h}: nova.conf passes oslo-config-validator`,
          [`rc ${c.rc}; namespaces ${nsText(c)}`, notPart.length ? `errors: ${notPart.join("; ")}` : c.errors.length ? `errors: ${c.errors.join("; ")}` : "", c.warnings.length ? `warnings: ${c.warnings.join("; ")}` : "no warnings", timing.validate].filter(Boolean).join("; "),
        );
      }
      for (const cred of out.validate.filter((x) => x.id.startsWith(`cred:${h}:`))) {
        record(cred.rc === 0 && cred.errors.length === 0, `${h}: credentials file option names pass oslo-config-validator`, `rc ${cred.rc}; namespaces ${nsText(cred)}; names ${p.secretNames.join(", ")} (values not shown)${cred.errors.length ? `; errors: ${cred.errors.join("; ")}` : ""}`);
      }
      // 2. option types
      const ld = l(`load:${h}`);
      if (ld) {
        const groups = Object.entries(ld.read);
        const total = groups.reduce((n, [, g]) => n + g.read, 0);
        const values = Object.entries(ld.values).map(([k, x]) => `${k}=${"value" in x ? String(x.value) : x.withheld ? "(withheld)" : `error ${x.error}`}`);
        record(
          ld.ok && ld.errors.length === 0 && groups.every(([, g]) => g.read === g.registered),
          `${h}: nova.conf + nova.conf.d load through nova's option types`,
          [
            `read ${total} options in ${groups.length} groups (${groups.map(([g, x]) => `${g} ${x.read}/${x.registered}`).join(", ")})`,
            ld.keystoneauth?.length ? `keystoneauth plugins loaded: ${ld.keystoneauth.join(", ")}` : "",
            `values: ${values.join(", ")}`,
            ld.errors.length ? `errors: ${ld.errors.join("; ")}` : "",
            ld.unregistered?.length ? `set but read by nothing registered: ${ld.unregistered.join(", ")}` : "",
            ld.warnings.length ? `warnings: ${ld.warnings.map((w) => w.replace(/\s+/g, " ")).join("; ")}` : "no warnings",
            timing.load,
          ].filter(Boolean).join("; "),
        );
        const notSet = p.secretNames.filter((n) => !ld.secretOptionsSet.includes(n));
        record(
          p.secretNames.length > 0 && notSet.length === 0,
          `${h}: credentials file is read through nova.conf.d`,
          p.secretNames.length === 0
            ? "the credentials document ships no nova option"
            : `loaded as Debian's nova-compute does: --config-file=${(ld.configFiles ?? []).join(" --config-file=")}, default config dir ${(ld.configDirs ?? []).join(", ")}; set from it (values withheld): ${ld.secretOptionsSet.join(", ") || "none"}${notSet.length ? `; not seen: ${notSet.join(", ")}` : ""}`,
        );
      }
    }

    // 3. flavors
    const nValidators = out.extraSpecs.validators;
    if (flavors.length === 0) record(false, "desktop flavors have extra specs to validate", `no ${FLAVOR_TYPE} in the evaluation`);
    for (const f of flavors) {
      const res = f.specs.map(([k, val]) => ({ k, val, r: s(`flavor:${f.name}:${k}`) }));
      const bad = res.filter((x) => !x.r?.ok);
      record(
        nValidators > 0 && bad.length === 0,
        `flavor ${f.name}: extra specs pass nova's validators`,
        `${nValidators} validators loaded (${timing.specs}); ` +
          (res.map((x) => `${x.k}=${x.val} ${x.r?.ok ? (x.r.validator ? `ok (${x.r.validator})` : "ok (no validator: namespace nova does not check)") : `rejected: ${x.r?.error ?? "no result"}`}`).join(", ") || "no extra specs"),
      );
    }

    // Negative controls.
    const nn = v("neg-name");
    record(
      !!nn && nn.rc === 1 && nn.errors.some((e) => e.includes("DEFAULT/ram_allocaton_ratio is not part of the sample config")),
      "misspelled option (ram_allocaton_ratio) is rejected by oslo-config-validator",
      nn ? `rc ${nn.rc}: ${nn.errors.join("; ") || "no error"}` : "no result",
      true,
    );
    for (const c of typeControls) {
      const x = l(c.id);
      const names = v(`names-only:${c.id}`);
      const err = x?.errors.find((e) => e.startsWith(`[${c.group}] ${c.option}:`));
      record(
        !!x && !x.ok && !!err,
        `[${c.group}] ${c.option} = ${c.value} fails to load through nova's option types`,
        `${err ? short(err) : `loaded without error${x?.errors.length ? ` (other errors: ${x.errors.join("; ")})` : ""}`}; oslo-config-validator on the same file: rc ${names?.rc ?? "?"} (it checks names only)`,
        true,
      );
    }
    for (const [id, key, value] of badSpecs) {
      const x = s(id);
      record(!!x && !x.ok && nValidators > 0, `extra spec ${key}=${value} is rejected by nova's validators`, x ? (x.ok ? "accepted" : x.error) : "no result", true);
    }
  },
};
