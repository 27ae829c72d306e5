/**
 * vdi-fleet policy pack: blocks every unsafe fleet setting before `pulumi up`.
 * Run with `pulumi preview --policy-pack policy` from the repository root.
 * Each policy judges the values actually shipped (host documents, flavors,
 * aggregates) and names the lesson or fact behind its threshold.
 */
import { PolicyPack } from "@pulumi/policy";
import { policies } from "./allPolicies";

new PolicyPack("vdi-fleet", { policies });
