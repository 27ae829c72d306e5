import type { StackValidationPolicy } from "@pulumi/policy";
import { LIBVIRT_GUESTS } from "../../facts/paths";
import { DEBIAN_LIBVIRT_GUESTS } from "../../facts/bootStorm";
import { keyValues, shippedHost, who } from "../../shipped/hosts";
import { shippedCells } from "../../shipped/cells";
import { settings, violation } from "../support/define";

const configSchema = {
  properties: {
    guestShutdownSeconds: {
      type: "number" as const,
      description: "How long one desktop takes to shut down cleanly (ACPI), s (L3: the planned desktops of a host must all stop before it powers off). An assumption (no published figure for Windows 10/11 guests): measure your images.",
      default: 90,
    },
  },
};

export const libvirtGuestsShutdown: StackValidationPolicy = {
  name: "libvirt-guests-shutdown",
  description:
    "Blocks compute hosts whose libvirt-guests cannot shut their share of the cell's planned desktops down in time at host shutdown: SHUTDOWN_TIMEOUT is the total for all guests when PARALLEL_SHUTDOWN > 1, and guests still running at the end are left to be killed.",
  enforcementLevel: "mandatory",
  configSchema,
  validateStack: (args, report) => {
    const c = settings<{ guestShutdownSeconds: number }>(configSchema, args);
    // A host's share of its cell's planned desktops comes from the cell's aggregate (what is
    // shipped to nova), not from the host document: a desktop-count change then re-runs no host.
    const share = new Map<string, number>();
    for (const cell of shippedCells(args.resources)) {
      for (const m of cell.members) share.set(m.host, Math.ceil(cell.planned / Math.max(1, cell.members.length)));
    }
    for (const r of args.resources) {
      const h = shippedHost(r.type, r.props);
      if (!h || !h.roles.includes("compute")) continue;
      const desktops = share.get(h.name);
      const f = h.file(LIBVIRT_GUESTS);
      if (!desktops || !f) continue;
      const kv = keyValues(f.content);
      if ((kv.get("ON_SHUTDOWN") ?? DEBIAN_LIBVIRT_GUESTS.onShutdown) !== "shutdown") continue;
      const parallel = Number(kv.get("PARALLEL_SHUTDOWN") ?? DEBIAN_LIBVIRT_GUESTS.parallelShutdown);
      const timeout = Number(kv.get("SHUTDOWN_TIMEOUT") ?? DEBIAN_LIBVIRT_GUESTS.shutdownTimeoutSeconds);
      // Debian's libvirt-guests.sh: with PARALLEL_SHUTDOWN > 1 the timeout is the total, otherwise per guest.
      const rounds = parallel > 1 ? Math.ceil(desktops / parallel) : desktops;
      const needed = rounds * c.guestShutdownSeconds;
      const budget = parallel > 1 ? timeout : timeout * desktops;
      const say = (what: string, fix: string) => violation(report, who(h), what, fix, r.urn);
      if (parallel <= 1 && timeout < c.guestShutdownSeconds) {
        say(`${LIBVIRT_GUESTS} SHUTDOWN_TIMEOUT=${timeout} per guest is below the ${c.guestShutdownSeconds} s a desktop needs to shut down`, `set bootStorm.libvirtGuests.shutdownTimeoutSeconds ≥ ${c.guestShutdownSeconds}`);
      } else if (budget < needed) {
        const p = Math.min(desktops, Math.max(parallel, 16));
        say(
          `${LIBVIRT_GUESTS} PARALLEL_SHUTDOWN=${parallel}, SHUTDOWN_TIMEOUT=${timeout}: ${desktops} planned desktops need ${rounds} round${rounds === 1 ? "" : "s"} of ${c.guestShutdownSeconds} s = ${needed} s to shut down, so the rest are killed at host shutdown`,
          p === parallel
            ? `set bootStorm.libvirtGuests.shutdownTimeoutSeconds ≥ ${needed}, or raise parallelShutdown if the instance storage takes more shutdowns at once`
            : `set bootStorm.libvirtGuests.parallelShutdown to ${p} and shutdownTimeoutSeconds ≥ ${Math.ceil(desktops / p) * c.guestShutdownSeconds}`,
        );
      }
    }
  },
};
