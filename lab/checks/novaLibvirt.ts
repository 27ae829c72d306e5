/**
 * nova-compute's user reaches libvirt (issue 13, post-converge health): nova-compute connects to
 * qemu:///system only after systemd reports it started, so the apply script's health check sees it
 * active and, when libvirt refuses user nova, it stops with HypervisorUnavailable about half a
 * minute later. The converge therefore runs nova-libvirt-check (render/nova.ts) after the starts.
 *
 * - every compute host: the shipped check passes (user nova connects to qemu:///system);
 * - negative control (first compute host): with polkitd stopped and masked (as when the dbus reload
 *   its postinst asked for was denied), libvirt cannot authorize user nova: the host's converge
 *   command fails with exit 4 naming the check, so a canary in this state stops the rollout;
 * - polkitd back: the check passes again.
 */
import type { Check, LabHost } from "../types";
import { NOVA_LIBVIRT_CHECK } from "../../facts/paths";
import { hostCommandName } from "../../shipped/naming";

const POLKIT = "polkit.service";

const runCheck = (h: LabHost) => h.exec([NOVA_LIBVIRT_CHECK], { timeoutMs: 90_000 });

export const novaLibvirtCheck: Check = {
  id: "nova-libvirt",
  title: "nova's user reaches libvirt on every compute host, and a compute host whose libvirt refuses it fails its converge (exit 4)",
  needs: [],
  async run(lab, rec) {
    const computes = lab.hostsWithRole("compute");
    if (!rec.expect(computes.length > 0, "the lab has compute hosts")) return;
    for (const h of computes) {
      const r = runCheck(h);
      rec.expect(r.status === 0, `${h.name}: ${NOVA_LIBVIRT_CHECK} passes`, (r.stdout + r.stderr).trim().slice(0, 240));
    }

    const h = computes[0];
    const converge = lab.commandsOf(lab.evaluation).filter((c) => c.name === hostCommandName(h.name, "converge"));
    const off = h.sh(`systemctl mask --runtime ${POLKIT} && systemctl stop ${POLKIT}`);
    if (!rec.expect(off.status === 0, `${h.name}: polkitd stopped and masked`, off.stderr.trim())) return;
    try {
      const r = runCheck(h);
      rec.expect(
        r.status === 1 && /cannot connect to qemu:\/\/\/system/.test(r.stderr),
        `without polkitd, ${h.name}'s check fails and names the cause`,
        r.stderr.trim().slice(0, 300),
        true,
      );
      const run = await lab.converge(converge);
      const failed = run.failed;
      rec.expect(
        failed?.status === 4 && /nova-libvirt-check/.test(failed.error ?? ""),
        `without polkitd, ${h.name}'s converge command exits 4 naming nova-libvirt-check (the rollout stops there)`,
        failed ? `exit ${failed.status}: ${(failed.error ?? "").trim().split("\n").slice(-2).join(" | ").slice(0, 300)}` : `it passed: ${run.runs.map((x) => x.summary ?? x.status).join(", ")}`,
        true,
      );
    } finally {
      const on = h.sh(`systemctl unmask --runtime ${POLKIT}; systemctl start ${POLKIT}`);
      if (on.status !== 0) rec.fail(`${h.name}: polkitd back`, on.stderr.trim());
    }
    const again = runCheck(h);
    rec.expect(again.status === 0, `polkitd back: ${h.name}'s check passes again`, (again.stdout + again.stderr).trim().slice(0, 240));
    const back = await lab.converge(converge);
    rec.expect(!back.failed, `polkitd back: ${h.name}'s converge command passes again`, back.failed ? `exit ${back.failed.status}: ${(back.failed.error ?? "").trim().slice(0, 200)}` : back.runs.map((x) => x.summary).join(", "));
  },
};
