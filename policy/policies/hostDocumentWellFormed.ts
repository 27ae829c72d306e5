import type { ResourceValidationPolicy } from "@pulumi/policy";
import { DocumentParseError } from "../../formats/document";
import { shippedDocument } from "../../shipped/hosts";
import { violation } from "../support/define";

export const hostDocumentWellFormed: ResourceValidationPolicy = {
  name: "host-document-well-formed",
  description: "Blocks host documents the apply script would refuse (malformed or truncated), since then nothing in them can be judged either.",
  enforcementLevel: "mandatory",
  validateResource: (args, report) => {
    const d = shippedDocument(args.type, args.props);
    if (d instanceof DocumentParseError) {
      violation(report, args.name, `the host document in stdin is malformed: ${d.message}`, "render host documents only with the program's renderers (render/document.ts)");
    }
  },
};
