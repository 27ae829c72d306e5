/**
 * The analyzer floor of `npm run bench`: a policy pack with no policies. It is
 * sent the same Analyze and AnalyzeStack requests as the real pack, so its
 * time is what the protocol (gRPC, protobuf) and @pulumi/policy cost before
 * any policy runs.
 */
import { PolicyPack } from "@pulumi/policy";

new PolicyPack("vdi-fleet-analyzer-floor", { policies: [] });
