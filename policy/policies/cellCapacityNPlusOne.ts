import type { StackValidationPolicy } from "@pulumi/policy";
import { shippedCells } from "../../shipped/cells";
import { CELL_TYPE } from "../../shipped/naming";
import { showSource } from "../../shipped/provenance";
import { readProvenance } from "../support/provenance";

export const cellCapacityNPlusOne: StackValidationPolicy = {
  name: "cell-capacity-n-plus-one",
  description: "Blocks a cell whose planned desktops do not fit its compute hosts with the largest host down (N+1), at the shipped ratios, reserved memory and desktop flavor (L2, L4).",
  enforcementLevel: "mandatory",
  validateStack: (args, report) => {
    // Where each cell's planned desktops were written (its component's provenance), for the fix.
    const desktopsAt = new Map<string, string>();
    for (const r of args.resources) {
      if (r.type !== CELL_TYPE) continue;
      const d = readProvenance(r.props)?.desktops;
      if (d) desktopsAt.set(String(r.props.cell), showSource(d));
    }
    for (const c of shippedCells(args.resources)) {
      if (!c.capacity) {
        report(`cell ${c.cell}: its desktop flavor ${c.flavorName ?? "(none)"} is neither in the stack nor recorded on its aggregate (vdi:flavor_vcpus, vdi:flavor_ram_mb), so capacity cannot be judged. Fix: declare the workload's flavor.`, c.urn);
        continue;
      }
      const cap = c.capacity;
      if (c.planned > cap.nPlusOne) {
        const lim = cap.largest ? `; a host holds ${cap.largest.desktops} desktops, limited by ${cap.largest.limitedBy}` : "";
        report(
          `cell ${c.cell}: ${c.planned} planned desktops do not fit with the largest host down: ${c.members.length} hosts hold ${cap.total}, N+1 ${cap.nPlusOne} (flavor ${c.flavorName}${lim}). Fix: add ${Math.ceil((c.planned - cap.nPlusOne) / Math.max(1, cap.largest?.desktops ?? 1))} or more hosts to the cell, or plan fewer desktops${desktopsAt.has(c.cell) ? `: ${desktopsAt.get(c.cell)}` : ""}.`,
          c.urn,
        );
      }
    }
  },
};
