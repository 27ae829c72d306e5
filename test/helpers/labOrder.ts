/**
 * The lab stack's convergence order (Pulumi.lab.yaml): brokers one at a time,
 * then the network node, then the cell's canary and the rest, then the cell's
 * host discovery. Shared by the plan tests and the booted lab's tests.
 */
export const ORDER = [
  "lab-mq-1-converge",
  "lab-mq-1-credentials",
  "lab-mq-2-converge",
  "lab-mq-2-credentials",
  "lab-mq-3-converge",
  "lab-mq-3-credentials",
  "lab-net-1-converge",
  "lab-net-1-credentials",
  "lab-cmp-1-converge",
  "lab-cmp-1-credentials",
  "lab-cmp-2-converge",
  "lab-cmp-2-credentials",
  "lab-discover-hosts",
];
