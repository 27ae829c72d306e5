import { spawnSync } from "child_process";
import { compareDebVersions, isExactDebVersion, parseDebVersion, upstreamOf } from "../formats/dpkg";

const pairs: Array<[string, string]> = [
  ["2.90-4~deb12u2", "2.90-4"],
  ["2.90-4~deb12u2", "2.89-1"],
  ["1:7.2+dfsg-7+deb12u18+b3", "1:7.2+dfsg-7+deb12u18"],
  ["1:7.2+dfsg-7+deb12u18", "7.2+dfsg-7+deb12u18"],
  ["2:26.2.2-1~deb12u5", "2:26.2.2-1"],
  ["6.1.64-1", "6.1.192-3"],
  ["1.0~rc1", "1.0"],
  ["1.0a", "1.0"],
  ["1.0", "1.0+b1"],
  ["2.67", "2.67-1"],
  ["3.10.8-1.1+deb12u1", "3.10.8-1.1"],
  ["9.0.0-4+deb12u2", "9.0.0-4+deb12u10"],
  ["0:1.0", "1.0"],
  ["1.0-1", "1.0-01"],
];

describe("dpkg version comparison", () => {
  test.each(pairs)("%s vs %s follows dpkg's order", (a, b) => {
    const sign = Math.sign(compareDebVersions(a, b));
    expect(Math.sign(compareDebVersions(b, a)) + sign).toBe(0);
    expect(compareDebVersions(a, a)).toBe(0);
  });

  // In CI dpkg must be there (.ci/run installs it): a missing prerequisite fails instead of skipping.
  const hasDpkg = spawnSync("dpkg", ["--version"]).status === 0 || process.env.CI === "true";
  (hasDpkg ? test : test.skip)("agrees with dpkg --compare-versions on every pair", () => {
    for (const [a, b] of pairs) {
      const ours = Math.sign(compareDebVersions(a, b));
      const lt = spawnSync("dpkg", ["--compare-versions", a, "lt", b]).status === 0;
      const eq = spawnSync("dpkg", ["--compare-versions", a, "eq", b]).status === 0;
      expect([a, b, ours]).toEqual([a, b, lt ? -1 : eq ? 0 : 1]);
    }
  });

  test.each(["latest", "*", ">= 2.90", "2.90*", "2.x", "~2.90", "^2.90", "2.90 || 2.91", "", "abc", "1:", "2.90-", " 2.90"])("%j is not an exact version", (v) => {
    expect(isExactDebVersion(v)).toBe(false);
    expect(typeof parseDebVersion(v)).toBe("string");
  });

  test("upstream part", () => {
    expect(upstreamOf("2:26.2.2-1~deb12u5")).toBe("26.2.2");
    expect(upstreamOf("2.90-4~deb12u2")).toBe("2.90");
  });
});
