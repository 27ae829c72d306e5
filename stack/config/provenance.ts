/**
 * Where each effective cell setting came from, so a policy's fix names the line to edit: the
 * cell's own entry (`cells[1](cell-b).overcommit.ramAllocationRatio`), the fleet's defaults
 * (`defaults.overcommit.ramAllocationRatio`), each with its file and line (a base file of
 * `extends` included), or the built-in default when neither sets it.
 *
 * It is recorded in the registered properties of the cell's component (components/cell.ts),
 * where the policy pack sees it and hosts do not: in a shipped file, moving a value from the
 * defaults to a cell with the same value would change files and restart services.
 *
 * Merge rules mirrored from load.ts: overcommit and bootStorm key by key, the cell over the
 * defaults; `overcommit.ksm` as a whole; `bootStorm.libvirtGuests` key by key over Debian's
 * defaults; versionSet the cell's or the default.
 */
import { overcommitSchema, bootStormSchema, libvirtGuestsSchema } from "./schema";
import { showPath, valueAt } from "./problems";
import { showOrigin, type OriginTree } from "../../formats/yaml";
import type { Provenance, SettingSource } from "../../shipped/provenance";

export type { Provenance, SettingSource };

/** The origin of exactly `path` (not of an ancestor), or undefined when the path was not written. */
function exactOrigin(tree: OriginTree | undefined, path: ReadonlyArray<string | number>): string | undefined {
  let cur = tree;
  for (const seg of path) {
    cur = cur?.children?.get(seg);
    if (!cur) return undefined;
  }
  return cur ? showOrigin(cur.at) : undefined;
}

const isSet = (raw: unknown, path: ReadonlyArray<string | number>): boolean => valueAt(raw, path) != null;

/** The keys a cell's settings are judged by. */
const OVERCOMMIT_KEYS = Object.keys(overcommitSchema.shape);
const BOOT_STORM_KEYS = Object.keys(bootStormSchema.shape).filter((k) => k !== "libvirtGuests");
const LIBVIRT_GUESTS_KEYS = Object.keys(libvirtGuestsSchema.shape);

/** Each effective setting of cell `index`, with where it came from (see the header). */
export function cellProvenance(raw: unknown, index: number, origins: OriginTree | undefined, builtIn: { libvirtGuests: string }): Provenance {
  const out: Provenance = {};
  const show = (path: Array<string | number>) => showPath("", path, raw).replace(/^\./, "");
  // The cell's own entry wins over the defaults; either wins over the built-in default.
  // Unset: the place to set it for every cell (the defaults), or the cell's own entry.
  // Whether a value is set is read from the config itself; its line from the origins, which are
  // absent for a config that is not the file on disk (then the path alone, never a wrong line).
  const pick = (key: string, cellPath: Array<string | number>, defaultPath: Array<string | number> | undefined, unset = "the built-in default") => {
    const path = isSet(raw, cellPath) ? cellPath : defaultPath && isSet(raw, defaultPath) ? defaultPath : undefined;
    const at = path && exactOrigin(origins, path);
    out[key] = path ? { path: show(path), ...(at ? { at } : {}) } : { path: show(defaultPath ?? cellPath), unset };
  };
  const cell = ["cells", index];
  for (const k of OVERCOMMIT_KEYS) pick(`overcommit.${k}`, [...cell, "overcommit", k], ["defaults", "overcommit", k]);
  for (const k of BOOT_STORM_KEYS) pick(`bootStorm.${k}`, [...cell, "bootStorm", k], ["defaults", "bootStorm", k]);
  for (const k of LIBVIRT_GUESTS_KEYS) pick(`bootStorm.libvirtGuests.${k}`, [...cell, "bootStorm", "libvirtGuests", k], ["defaults", "bootStorm", "libvirtGuests", k], builtIn.libvirtGuests);
  pick("versionSet", [...cell, "versionSet"], ["defaults", "versionSet"]);
  pick("desktops", [...cell, "desktops"], undefined);
  return out;
}

/** The fleet-wide sections a policy's fix names settings of ("set rabbitmq.heartbeatSeconds …", "hardwareProfiles.epyc-512g.instanceStorage"). */
export const FLEET_SECTIONS = ["rabbitmq", "networking", "versionSets", "hardwareProfiles"] as const;

/**
 * Where every value of the fleet-wide sections was written, keyed by its dotted path
 * ("rabbitmq.heartbeatSeconds", "versionSets.bookworm-2026-10.aptSource"): mappings and lists
 * too, so a setting that is not written is located at the nearest one that is (where to add it).
 * Values of a config that is not the file on disk have the path alone.
 */
export function fleetProvenance(raw: unknown, origins: OriginTree | undefined): Provenance {
  const out: Provenance = {};
  const walk = (v: unknown, path: Array<string | number>) => {
    const at = exactOrigin(origins, path);
    out[path.join(".")] = { path: showPath("", path, raw).replace(/^\./, ""), ...(at ? { at } : {}) };
    if (Array.isArray(v)) v.forEach((x, i) => walk(x, [...path, i]));
    else if (v && typeof v === "object") for (const [k, x] of Object.entries(v)) walk(x, [...path, k]);
  };
  const top = raw && typeof raw === "object" ? (raw as Record<string, unknown>) : {};
  for (const section of FLEET_SECTIONS) if (top[section] !== undefined) walk(top[section], [section]);
  return out;
}

