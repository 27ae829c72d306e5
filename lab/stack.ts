/** The stack the lab converges, and the prefix of every namespace it creates. */
export const LAB_STACK = "lab";
export const LAB_PREFIX = "vdilab";
