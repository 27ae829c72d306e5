"""Judges nova configuration with nova's and oslo.config's own code, in one interpreter.

Run with Debian's interpreter (/usr/bin/python3, python3-nova and
python3-oslo.config installed). Reads one JSON job on stdin, writes one JSON
result on stdout:

  {"validate":   [{"id", "file", "baseNamespaces": [...]}],
   "load":       [{"id", "files": [...], "dirs": [...], "secretFiles": [...],
                   "report": [[group, option], ...]}],
   "extraSpecs": [{"id", "key", "value"}]}

validate   runs oslo-config-validator's entry point (oslo_config.validator.main)
           on the file with --namespace for the base namespaces plus every
           namespace that defines an option the file sets and the base ones do
           not; returns its exit status and its log lines by level.
load       loads the files (as --config-file) and the dirs' *.conf (as default
           config dirs) into nova.conf.CONF as Debian's nova-compute does,
           registers the options of the namespaces the groups need
           (keystoneauth plugin options through keystoneauth's own loader)
           and reads every registered option of every group present,
           so type, range and choice errors raise. Values are reported only for
           the options asked for, never for a secret option or one set in a
           secret file; error messages about those are withheld.
extraSpecs validators.load_validators(), then validators.validate(key, value).

Secrets: nothing read from a secret file is ever written out (names only).
"""
import contextlib
import functools
import importlib.metadata
import io
import json
import logging
import sys
import time

T0 = time.monotonic()


def elapsed():
    return round(time.monotonic() - T0, 3)


class Capture(logging.Handler):
    """Collects log records (validator findings, deprecation warnings) by level."""

    def __init__(self):
        super().__init__(logging.DEBUG)
        self.records = []

    def emit(self, record):
        self.records.append((record.levelname, record.getMessage()))


@contextlib.contextmanager
def captured_logs():
    root = logging.getLogger()
    handler = Capture()
    saved = (root.handlers[:], root.level)
    root.handlers = [handler]
    root.setLevel(logging.INFO)
    try:
        yield handler
    finally:
        root.handlers, level = saved
        root.setLevel(level)


def opt_names(opt):
    names = {opt.name, opt.dest}
    for d in opt.deprecated_opts or []:
        if d.name:
            names.add(d.name)
            names.add(d.name.replace("-", "_"))
    return names


_NAMESPACE_OPTS = {}


def namespace_opts(ns):
    """[(group name, [opts])] of one oslo.config.opts namespace (cached)."""
    if ns not in _NAMESPACE_OPTS:
        from oslo_config import generator

        out = []
        for _, groups in generator._list_opts([ns]):
            for group, opts in groups:
                name = "DEFAULT" if group is None else (group if isinstance(group, str) else group.name)
                out.append((name, list(opts)))
        _NAMESPACE_OPTS[ns] = out
    return _NAMESPACE_OPTS[ns]


def defines(ns, group, option):
    return any(g == group and any(option in opt_names(o) for o in opts) for g, opts in namespace_opts(ns))


@functools.lru_cache(maxsize=None)
def all_namespaces():
    names = {e.name for e in importlib.metadata.entry_points(group="oslo.config.opts")}
    # Test fixtures registered as namespaces are no option source of a service.
    return tuple(sorted(n for n in names if ".tests." not in n))


def file_sections(path):
    from oslo_config import cfg

    sections = {}
    cfg.ConfigParser(path, sections).parse()
    return sections


def needed_namespaces(path, base):
    """The base namespaces plus, for every option the file sets that they do not define, the namespaces that do."""
    chosen = list(base)
    why = {}
    for group, options in file_sections(path).items():
        for option in options:
            if any(defines(ns, group, option) for ns in chosen):
                continue
            providers = [ns for ns in all_namespaces() if ns not in chosen and defines(ns, group, option)]
            for ns in providers:
                chosen.append(ns)
                why[ns] = f"{group}/{option}"
    return chosen, why


def validate(job):
    from oslo_config import validator

    namespaces, why = needed_namespaces(job["file"], job["baseNamespaces"])
    argv = ["oslo-config-validator"]
    for ns in namespaces:
        argv += ["--namespace", ns]
    argv += ["--input-file", job["file"]]
    saved = sys.argv
    sys.argv = argv
    try:
        with captured_logs() as logs, contextlib.redirect_stdout(io.StringIO()) as out:
            rc = validator.main()
    finally:
        sys.argv = saved
    by = {"ERROR": [], "WARNING": [], "INFO": []}
    for level, msg in logs.records:
        by.setdefault(level, []).append(msg)
    return {
        "id": job["id"],
        "namespaces": namespaces,
        "addedFor": why,
        "rc": rc,
        "errors": by["ERROR"] + by.get("CRITICAL", []),
        "warnings": by["WARNING"],
        "infos": by["INFO"],
        "stdout": out.getvalue()[-2000:],
    }


def load(job):
    from keystoneauth1 import loading as ks_loading
    from oslo_config import cfg
    from oslo_log import versionutils
    import nova.conf

    CONF = nova.conf.CONF
    # oslo.log registers these at its first deprecation report; register up front so every load reads the same set.
    versionutils.register_options()
    secret_files = set(job.get("secretFiles", []))
    result = {"id": job["id"], "ok": True, "errors": [], "warnings": [], "read": {}, "values": {}, "registered": [], "secretOptionsSet": []}
    with captured_logs() as logs:
        try:
            # As Debian's nova-compute starts: --config-file on the command line; the config
            # dir (nova.conf.d) is read as a default dir, which oslo.config reads even then.
            CONF(
                args=[f"--config-file={f}" for f in job["files"]],
                project="nova",
                prog="nova-compute",
                default_config_files=[],
                default_config_dirs=job.get("dirs", []),
            )
        except Exception as e:  # a file that does not even parse
            msg = str(e)
            if any(f in msg for f in secret_files):
                msg = "message withheld (it quotes a secret file)"
            result["ok"] = False
            result["errors"].append(f"load: {type(e).__name__}: {msg}")
            return result
        result["configFiles"] = list(CONF.config_file)
        result["configDirs"] = [CONF.config_dir] if isinstance(CONF.config_dir, str) else list(CONF.config_dir or [])
        sections = list(CONF.list_all_sections())
        result["sections"] = sections

        # Which file sets each option (the last one parsed wins, as in oslo.config; its own
        # LocationInfo names the last file holding the section, not the option).
        set_in_files = {}
        for f in result["configFiles"] + sorted(_conf_d_files(result["configDirs"])):
            for group, options in file_sections(f).items():
                for option in options:
                    set_in_files.setdefault(group, {})[option] = f

        def source(group, opt):
            found = [set_in_files.get(group, {}).get(n) for n in opt_names(opt)]
            return next((f for f in found if f), None)

        # Options a nova service registers only at run time (oslo.messaging's, oslo.concurrency's...):
        # register those of the namespaces that define the groups' options, where nova did not.
        for ns in all_namespaces():
            if ns == "nova.conf":
                continue
            for group, opts in namespace_opts(ns):
                if group not in set_in_files:
                    continue
                if not any(n in set_in_files[group] for o in opts for n in opt_names(o)):
                    continue
                for o in opts:
                    try:
                        if CONF.register_opt(o, group=None if group == "DEFAULT" else group):
                            result["registered"].append(f"{ns}:{group}/{o.dest}")
                    except cfg.DuplicateOptError:
                        pass  # nova registers its own variant of this option
        # keystoneauth: the plugin's options (auth_url, username, password...) are registered and
        # read by keystoneauth's own loader, as nova does when it builds its clients.
        for group in sections:
            if group == "DEFAULT" or group not in CONF or "auth_type" not in CONF[group]:
                continue
            try:
                if CONF[group].auth_type:
                    ks_loading.load_auth_from_conf_options(CONF, group)
                    result.setdefault("keystoneauth", []).append(f"{group}: {CONF[group].auth_type}")
            except Exception as e:
                result["ok"] = False
                result["errors"].append(f"[{group}] keystoneauth plugin: {type(e).__name__}: {e}")

        for group in sections:
            if group != "DEFAULT" and group not in CONF:
                result["warnings"].append(f"[{group}] is no registered group of nova (its options are not read)")
                continue
            names = [k for k in CONF if k not in CONF._groups] if group == "DEFAULT" else list(CONF[group])
            n = 0
            for name in names:
                g = None if group == "DEFAULT" else group
                opt = CONF._get_opt_info(name, g)["opt"]
                src = source(group, opt)
                try:
                    CONF[name] if g is None else CONF[group][name]
                    n += 1
                except Exception as e:
                    result["ok"] = False
                    msg = str(e)
                    if opt.secret or src in secret_files:
                        msg = "value not valid (message withheld: secret option or secret file)"
                    where = f" (set in {src})" if src else ""
                    result["errors"].append(f"[{group}] {name}: {type(e).__name__}: {msg}{where}")
                    continue
                if src is not None and (opt.secret or src in secret_files):
                    result["secretOptionsSet"].append(f"[{group}] {name}")
            result["read"][group] = {"read": n, "registered": len(names)}
        for group, name in job.get("report", []):
            g = None if group == "DEFAULT" else group
            key = f"{group}/{name}"
            try:
                opt = CONF._get_opt_info(name, g)["opt"]
                src = source(group, opt)
                if opt.secret or src in secret_files:
                    result["values"][key] = {"withheld": "secret"}
                    continue
                value = CONF[name] if g is None else CONF[group][name]
                result["values"][key] = {"value": value, "from": src or "default"}
            except Exception as e:
                result["values"][key] = {"error": f"{type(e).__name__}: {e}"}
        # Deprecations, from the options' own metadata (oslo logs each only once per process).
        for group, options in set_in_files.items():
            if group != "DEFAULT" and group not in CONF:
                continue
            by_name = {}
            for name in ([k for k in CONF if k not in CONF._groups] if group == "DEFAULT" else list(CONF[group])):
                opt = CONF._get_opt_info(name, None if group == "DEFAULT" else group)["opt"]
                for n in opt_names(opt):
                    by_name.setdefault(n, opt)
            for option in options:
                opt = by_name.get(option)
                if opt is None:
                    result.setdefault("unregistered", []).append(f"[{group}] {option}")
                    continue
                if option not in (opt.name, opt.dest):
                    result["warnings"].append(f"[{group}] {option} is a deprecated name of {opt.dest}")
                if opt.deprecated_for_removal:
                    reason = " ".join((opt.deprecated_reason or "").split())
                    result["warnings"].append(f"[{group}] {option} is deprecated for removal{f' (since {opt.deprecated_since})' if opt.deprecated_since else ''}: {reason}")
        result["warnings"] += [f"{lvl}: {m}" for lvl, m in logs.records if lvl in ("WARNING", "ERROR") and "deprecat" not in m.lower()]
    return result


def _conf_d_files(dirs):
    import glob
    import os

    out = []
    for d in dirs:
        out += [f for f in glob.glob(os.path.join(d, "*.conf"))]
    return out


def secret_values(files):
    """Every value set in the secret files (to be scrubbed from anything written out)."""
    values = set()
    for f in files:
        try:
            for options in file_sections(f).values():
                for vals in options.values():
                    values.update(v for v in vals if v and len(v) >= 3)
        except Exception:
            pass
    return sorted(values, key=len, reverse=True)


def scrub(v, secrets):
    if isinstance(v, str):
        for s in secrets:
            v = v.replace(s, "<secret>")
        return v
    if isinstance(v, list):
        return [scrub(x, secrets) for x in v]
    if isinstance(v, dict):
        return {scrub(k, secrets): scrub(x, secrets) for k, x in v.items()}
    return v


def extra_specs(jobs):
    if not jobs:
        return {"validators": 0, "results": []}
    from nova import exception
    from nova.api.validation.extra_specs import validators

    validators.load_validators()
    import re

    results = []
    for job in jobs:
        key, value = job["key"], job["value"]
        matched = key if key in validators.VALIDATORS else next((v for v, val in validators.VALIDATORS.items() if re.fullmatch(val.name_regex, key)), None)
        try:
            validators.validate(key, value)
            results.append({"id": job["id"], "ok": True, "validator": matched})
        except exception.ValidationError as e:
            results.append({"id": job["id"], "ok": False, "validator": matched, "error": str(e)})
    return {"validators": len(validators.VALIDATORS), "results": results}


def main():
    job = json.load(sys.stdin)
    out = {"timings": {}}
    t = elapsed()
    out["validate"] = [validate(j) for j in job.get("validate", [])]
    out["timings"]["validate"] = round(elapsed() - t, 3)
    t = elapsed()
    out["load"] = [load(j) for j in job.get("load", [])]
    out["timings"]["load"] = round(elapsed() - t, 3)
    t = elapsed()
    out["extraSpecs"] = extra_specs(job.get("extraSpecs", []))
    out["timings"]["extraSpecs"] = round(elapsed() - t, 3)
    out["timings"]["total"] = elapsed()
    secrets = secret_values({f for j in job.get("load", []) for f in j.get("secretFiles", [])})
    json.dump(scrub(json.loads(json.dumps(out, default=str)), secrets), sys.stdout)


if __name__ == "__main__":
    main()
