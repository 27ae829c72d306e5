/**
 * Where a setting (a cell's, or a fleet-wide one) was written in the config (stack/config/provenance.ts records it, the
 * policy pack names it in fixes: policy/support/provenance.ts). Shared by both; no dependencies.
 */
export interface SettingSource {
  /** The config path as written: "defaults.overcommit.ramAllocationRatio", "cells[1](cell-b).overcommit.ksm". */
  path: string;
  /** Its file and line, "fleets/common.yaml:61", when known (a config that is not the file on disk has none). */
  at?: string;
  /** Only when the config does not set it: what applies instead ("the built-in default", "Debian's /etc/default/libvirt-guests"); `path` is then where to set it. */
  unset?: string;
}

/** Setting key ("overcommit.ramAllocationRatio", "bootStorm.libvirtGuests.shutdownTimeoutSeconds", "versionSet", "desktops") → source. */
export type Provenance = Record<string, SettingSource>;

/** "defaults.overcommit.ramAllocationRatio (fleets/common.yaml:61)", "… (not set: the built-in default)", or the path alone. */
export function showSource(s: SettingSource, suffix = ""): string {
  return `${s.path}${suffix}${s.at ? ` (${s.at})` : s.unset ? ` (not set: ${s.unset})` : ""}`;
}
