#!/bin/bash
# vdi-apply: applies a VDI host document (format: formats/document.ts, version 2) idempotently
# on a Debian 12 host. Run as root with the document on stdin:
#
#   bash -c "$(cat host/apply.sh)" vdi-apply < document      (how the deployment runs it)
#   bash host/apply.sh < document
#
# 1. The WHOLE document is read and validated first; file contents go to a private temp dir.
#    Malformed or truncated -> exit 2, "vdi-apply: line N: ..." on stderr, nothing changed.
#    Document text is never echoed (content lines may hold secrets); only paths, units and
#    package names are printed. Then "fact <key> <value> verify" is checked (ram_mb: MemTotal
#    >= 90% of value; cpus: nproc --all >= value); a mismatch -> exit 3, nothing changed.
# 2. An exclusive flock on <root>/run/vdi-apply.lock (600 s timeout) is taken.
# 3. Entries are applied in document order: each "file" is compared (content, mode,
#    owner:group) and, if different, written atomically (temp file in the same directory,
#    chown, chmod, "sync -- <temp>" (errors ignored: best effort), mv -f). At the first
#    "package" directive every package of the document whose installed version differs is
#    installed in one apt-get call, then all are held. Only when something is to be installed:
#    - "dpkg --force-confold --configure -a" runs first (a no-op unless an earlier install was
#      interrupted: it finishes that one), then "apt-get update", then "apt-get install";
#    - package installs never start, stop or restart daemons: during those three commands
#      /usr/sbin/policy-rc.d is a script that exits 101 (honoured by invoke-rc.d and
#      deb-systemd-invoke) for every action but a reload of dbus, and OVS_FORCE_RELOAD_KMOD=no and DEBIAN_FRONTEND=noninteractive are
#      exported. An existing policy-rc.d is moved aside to policy-rc.d.vdi-apply-saved and put
#      back afterwards, also on failure, HUP, INT or TERM; ours is removed. Leftovers of a
#      killed run are cleaned up first: a policy-rc.d of ours (recognized by its marker line) is
#      removed and a saved one put back; if a foreign policy-rc.d AND a saved one exist -> exit 1;
#    - SIGHUP and SIGPIPE are ignored meanwhile (restored afterwards), so a dropped SSH
#      session cannot kill dpkg mid-unpack;
#    - their output is appended to /var/log/vdi-apply/apt.log (one "==== <UTC time> ..." header
#      per run), not sent to the SSH channel; on failure the last 30 lines this run added to
#      the log are copied to stderr;
#    - a package that was installed at another version before (an upgrade or a downgrade)
#      triggers a restart of the units its "package" line names, so the new code runs; they
#      restart in the action phase like file-triggered restarts. A changed package that names
#      none is reported ("note: ... nothing to restart"): its new code runs after the next
#      reboot (the kernel) or guest restart (QEMU).
# 4. Action phase, in this order:
#    daemon-reload (once), enables, exec (each once, in order of first trigger; e.g. loading the
#    modules whose sysctl keys follow), sysctl (each file once: every key written to /proc/sys and
#    read back; in a container a key the kernel keeps read-only or does not have there is
#    skipped with a report line, anywhere else that is a failure),
#    restarts (each unit once, in order of first trigger), starts ("start" directives in
#    document order, each unit once: "systemctl start" unless "systemctl is-active"; counted
#    as restarts), post (each once, in order of first trigger). daemon-reload, sysctl, exec,
#    restart and post are file actions: they run only for files whose CONTENT changed (a
#    mode/owner-only fix triggers nothing). A unit with a "needs <unit> <path>" whose <root><path> does not
#    exist is neither restarted nor started: "vdi-apply: deferred <unit> (waiting for <path>)"
#    (once per unit, first missing path), not an error, not counted, and its restart is
#    dropped from the journal (the document that creates <path> triggers its own restart).
#    Triggered actions are journaled in <root>/run/vdi-apply.pending before a file is
#    replaced and the journal is removed only when every action succeeded, so a run that
#    died half-way redoes them next time ("start" needs no journal: it is checked every run).
#    Health: every unit restarted or started by this run must then be active: each is polled
#    (bounded, 180 s in all) while it is activating, and checked once more after a 5 s settle
#    (a daemon that dies right after starting); otherwise exit 4, naming the unit and its
#    state. Then every "check <unit> <path>" whose unit is not deferred runs its program (a
#    read-only assertion, e.g. the broker is in its cluster); a failing check exits 4.
# 5. Run as `bash -c <script>` (the converge command), a successful run keeps a copy of the
#    script text as <root>/usr/local/lib/vdi-apply/<sha256 of the text>.sh (written atomically,
#    0644, only when missing or different) and removes older copies there. The credentials
#    command runs that copy after checking its hash instead of carrying the script again.
# 6. Last stdout line: "vdi-apply: host=<name> changes=<n> restarts=<n>" (restarts: units
#    restarted or started). Report lines go to stdout; output of exec'd/post programs and all
#    errors go to stderr; dpkg/apt-get output goes to the apt log.
#
# root "/" is production: every failure is fatal (exit 1). Any other root is "root-prefix
# mode" (the lab): files are written under it; apt, systemctl, sysctl, exec, post and fact
# checks are only reported as "skipped" (a skipped start is not counted: whether the unit runs
# is unknown; a skipped restart is); "needs" paths are checked under the root, so deferrals
# are reported as in production. chown happens only when running as root and the user and
# group exist here (else a note line). Exit codes: 0 ok, 1 failure, 2 bad document, 3 fact,
# 4 unhealthy (a unit not active after its restart, or a failing check).
#
# Test-only environment overrides (never set them in production):
#   VDI_APPLY_MEMINFO      file read instead of /proc/meminfo for "fact ram_mb ... verify"
#   VDI_APPLY_RUN_DIR      directory for the lock and the journal instead of <root>/run
#   VDI_APPLY_POLICY_RC_D  path used instead of /usr/sbin/policy-rc.d during installs
#   VDI_APPLY_LOG_DIR      directory of apt.log instead of /var/log/vdi-apply
#   VDI_APPLY_LIB_DIR      directory of the kept script copy instead of <root>/usr/local/lib/vdi-apply
#   VDI_APPLY_PROC_SYS     directory used instead of /proc/sys for sysctl keys
#   VDI_APPLY_CONTAINER    1 or 0 instead of asking systemd-detect-virt whether this is a container
#   VDI_APPLY_HEALTH_TIMEOUT / VDI_APPLY_SETTLE  seconds instead of 180 / 5
set -euo pipefail
umask 022

say() { printf 'vdi-apply: %s\n' "$*"; }
die() { printf 'vdi-apply: error: %s\n' "$*" >&2; exit 1; }
bad() { printf 'vdi-apply: line %s: %s\n' "$1" "$2" >&2; exit 2; }
# Runs a system command without the lock fd, so daemons it may spawn never hold the lock.
run() { "$@" 9>&-; }

POLICY_RC_D=${VDI_APPLY_POLICY_RC_D:-/usr/sbin/policy-rc.d}
POLICY_SAVED=$POLICY_RC_D.vdi-apply-saved
POLICY_MARK='# vdi-apply: temporary, denies daemon actions during package installs'
POLICY_ACTIVE=0 # 1 while our policy-rc.d may be in place (cleanup then restores the original)
APT_LOG=${VDI_APPLY_LOG_DIR:-/var/log/vdi-apply}/apt.log

policy_ours() { [[ -f $POLICY_RC_D && ! -L $POLICY_RC_D ]] && grep -qxF -- "$POLICY_MARK" "$POLICY_RC_D"; }
policy_restore() { # removes our policy-rc.d and puts back the one moved aside, if any
  rm -f -- "$POLICY_RC_D.vdi-apply-new" || return 1
  if policy_ours; then rm -f -- "$POLICY_RC_D" || return 1; fi
  if [[ -e $POLICY_SAVED || -L $POLICY_SAVED ]] && [[ ! -e $POLICY_RC_D && ! -L $POLICY_RC_D ]]; then
    mv -- "$POLICY_SAVED" "$POLICY_RC_D" || return 1
  fi
}

STORE=$(mktemp -d -t vdi-apply.XXXXXX) || die "cannot create a temporary directory"
PENDING_TMP=""
cleanup() {
  if [[ -n $PENDING_TMP ]]; then rm -f -- "$PENDING_TMP"; fi
  if ((POLICY_ACTIVE)) && ! policy_restore; then
    printf 'vdi-apply: error: cannot restore %s (original kept as %s)\n' "$POLICY_RC_D" "$POLICY_SAVED" >&2
  fi
  rm -rf -- "$STORE"
}
trap cleanup EXIT
trap 'exit 129' HUP
trap 'exit 130' INT
trap 'exit 143' TERM

RE_UNIT='[A-Za-z0-9@._:-]+\.(service|socket|timer|target|path|mount)'
RE_FACT='^fact ([^[:space:]]+) ([^[:space:]]+)( verify)?$'
RE_PACKAGE="^package ([a-z0-9][a-z0-9+.-]+(:[a-z0-9-]+)?) ([0-9][A-Za-z0-9.+~:-]*)( (${RE_UNIT}(,${RE_UNIT})*))?\$"
RE_CHECK="^check (${RE_UNIT}) (/[^[:space:]]*)\$"
RE_ENABLE="^enable (${RE_UNIT})\$"
RE_START="^start (${RE_UNIT})\$"
RE_NEEDS="^needs (${RE_UNIT}) (/[^[:space:]]*)\$"
RE_FILE='^file (/[^[:space:]]*) (0?[0-7]{3,4}) ([a-z_][a-z0-9_-]*):([a-z_][a-z0-9_-]*) ([1-9][0-9]{0,6}) ([^[:space:]]+)$'
RE_ACTION="^(daemon-reload|sysctl|exec|exec=/[^,[:space:]]+|post=/[^,[:space:]]+|restart=${RE_UNIT})\$"

# Absolute, no empty/./.. components, no trailing slash (so nothing escapes the root).
path_ok() { [[ $1 == /?* && $1 != */ && "$1/" != *//* && "$1/" != */./* && "$1/" != */../* ]]; }

# ---------------------------------------------------------------- 1. read + validate
LINENO_DOC=0
next_line() { # sets LINE; fails at end of input (a last line without newline still counts)
  LINE=""
  if IFS= read -r LINE || [[ -n $LINE ]]; then LINENO_DOC=$((LINENO_DOC + 1)); return 0; fi
  return 1
}

HOST="" ROOT="" PREFIX=""
ENTRY_KIND=() # per entry: file | package (facts, enables, starts, needs need no in-order step)
F_PATH=() F_MODE=() F_OWNER=() F_GROUP=() F_TRIGGERS=() # indexed by entry number
PKG_NAMES=() PKG_VERSIONS=() PKG_RESTARTS=() ENABLES=() STARTS=() VERIFY_KEYS=() VERIFY_VALUES=() CHECK_UNITS=() CHECK_PATHS=()
declare -A SEEN=() DECLARED=() # DECLARED: every "<action> <arg>" the document can trigger
declare -A NEEDS=()            # unit -> its needed paths, space separated, document order

parse_file() { # parses the current "file" line and stores its content lines
  [[ $LINE =~ $RE_FILE ]] || bad "$LINENO_DOC" 'expected "file <path> <mode> <owner>:<group> <lines> <actions>"'
  local n=${#ENTRY_KIND[@]} at=$LINENO_DOC path=${BASH_REMATCH[1]} mode=${BASH_REMATCH[2]} owner=${BASH_REMATCH[3]}
  local group=${BASH_REMATCH[4]} count=${BASH_REMATCH[5]} acts=${BASH_REMATCH[6]} a j t triggers=""
  path_ok "$path" || bad "$at" "file path $path must be absolute and normalized"
  [[ -z ${SEEN[file:$path]:-} ]] || bad "$at" "duplicate file $path"
  SEEN[file:$path]=1
  if [[ $acts != - ]]; then
    local -a list
    [[ $acts != ,* && $acts != *, && $acts != *,,* ]] || bad "$at" "empty action for $path"
    IFS=, read -ra list <<< "$acts"
    for a in "${list[@]}"; do
      [[ $a =~ $RE_ACTION ]] || bad "$at" "unknown file action for $path"
      case $a in # normalized to "<action> <arg>"
        restart=*) t="restart ${a#restart=}" ;;
        exec=*) path_ok "${a#exec=}" || bad "$at" "bad exec path for $path"; t="exec ${a#exec=}" ;;
        post=*) path_ok "${a#post=}" || bad "$at" "bad post path for $path"; t="post ${a#post=}" ;;
        exec | sysctl) t="$a $path" ;;
        daemon-reload) t="daemon-reload -" ;;
      esac
      triggers+="$t"$'\n'
      DECLARED[$t]=1
    done
  fi
  ENTRY_KIND+=(file)
  F_PATH[n]=$path F_MODE[n]=$mode F_OWNER[n]=$owner F_GROUP[n]=$group F_TRIGGERS[n]=$triggers
  {
    for ((j = 0; j < count; j++)); do
      next_line || bad "$((LINENO_DOC + 1))" "document ends inside the $count content lines of $path (truncated?)"
      printf '%s\n' "$LINE"
    done
  } > "$STORE/$n" || die "cannot store the content of $path"
}

next_line && [[ $LINE == "vdi-host-document 2" ]] || bad 1 'expected "vdi-host-document 2"'
next_line && [[ $LINE =~ ^host\ ([^[:space:]]+)$ ]] || bad 2 'expected "host <name>"'
HOST=${BASH_REMATCH[1]}
next_line && [[ $LINE =~ ^root\ (/[^[:space:]]*)$ ]] || bad 3 'expected "root <absolute path>"'
ROOT=${BASH_REMATCH[1]} PREFIX=$ROOT
while [[ $PREFIX == */ ]]; do PREFIX=${PREFIX%/}; done
[[ -z $PREFIX ]] || path_ok "$PREFIX" || bad 3 "root $ROOT must be a normalized absolute path"
ENDED=0
while next_line; do
  ((ENDED == 0)) || bad "$LINENO_DOC" 'text after "end"'
  case ${LINE%% *} in
    end) [[ $LINE == end ]] || bad "$LINENO_DOC" 'expected "end"'; ENDED=1 ;;
    fact)
      [[ $LINE =~ $RE_FACT ]] || bad "$LINENO_DOC" 'expected "fact <key> <value> [verify]"'
      key=${BASH_REMATCH[1]} want=${BASH_REMATCH[2]}
      if [[ -n ${BASH_REMATCH[3]} ]]; then
        [[ $key == ram_mb || $key == cpus ]] || bad "$LINENO_DOC" "cannot verify fact $key"
        [[ $want =~ ^[1-9][0-9]{0,8}$ ]] || bad "$LINENO_DOC" "fact $key needs a positive integer to verify"
        VERIFY_KEYS+=("$key") VERIFY_VALUES+=("$want")
      fi ;;
    package)
      [[ $LINE =~ $RE_PACKAGE ]] || bad "$LINENO_DOC" 'expected "package <name> <exact version> [<unit>,...]"'
      [[ -z ${SEEN[pkg:${BASH_REMATCH[1]}]:-} ]] || bad "$LINENO_DOC" "duplicate package ${BASH_REMATCH[1]}"
      SEEN[pkg:${BASH_REMATCH[1]}]=1
      for u in ${BASH_REMATCH[5]//,/ }; do DECLARED["restart $u"]=1; done
      PKG_NAMES+=("${BASH_REMATCH[1]}") PKG_VERSIONS+=("${BASH_REMATCH[3]}") PKG_RESTARTS+=("${BASH_REMATCH[5]}") ENTRY_KIND+=(package) ;;
    check)
      [[ $LINE =~ $RE_CHECK ]] || bad "$LINENO_DOC" 'expected "check <unit> <absolute path>"'
      path_ok "${BASH_REMATCH[3]}" || bad "$LINENO_DOC" "check path ${BASH_REMATCH[3]} must be absolute and normalized"
      CHECK_UNITS+=("${BASH_REMATCH[1]}") CHECK_PATHS+=("${BASH_REMATCH[3]}") ;;
    enable)
      [[ $LINE =~ $RE_ENABLE ]] || bad "$LINENO_DOC" 'expected "enable <unit>"'
      ENABLES+=("${BASH_REMATCH[1]}") ;;
    start)
      [[ $LINE =~ $RE_START ]] || bad "$LINENO_DOC" 'expected "start <unit>"'
      if [[ -z ${SEEN[start:${BASH_REMATCH[1]}]:-} ]]; then STARTS+=("${BASH_REMATCH[1]}"); fi
      SEEN[start:${BASH_REMATCH[1]}]=1 ;;
    needs)
      [[ $LINE =~ $RE_NEEDS ]] || bad "$LINENO_DOC" 'expected "needs <unit> <absolute path>"'
      path_ok "${BASH_REMATCH[3]}" || bad "$LINENO_DOC" "needs path ${BASH_REMATCH[3]} must be absolute and normalized"
      NEEDS[${BASH_REMATCH[1]}]+="${BASH_REMATCH[3]} " ;;
    file) parse_file ;;
    *) bad "$LINENO_DOC" "unknown directive (expected fact, package, file, enable, start, needs, check or end)" ;;
  esac
done
((ENDED == 1)) || bad "$((LINENO_DOC + 1))" 'document has no "end" line (truncated?)'

SYSTEM=1 # 1: root "/", act on the real system; 0: root-prefix mode
[[ -z $PREFIX ]] || SYSTEM=0
skip() { say "skipped $* (root prefix $ROOT)"; }

memtotal_mb() {
  local key value rest
  while read -r key value rest; do
    if [[ $key == MemTotal: && $value =~ ^[0-9]+$ ]]; then echo $((value / 1024)); return 0; fi
  done < "${VDI_APPLY_MEMINFO:-/proc/meminfo}"
  return 1
}

for i in "${!VERIFY_KEYS[@]}"; do
  key=${VERIFY_KEYS[i]} want=${VERIFY_VALUES[i]}
  if ((SYSTEM == 0)); then skip "fact verification $key"; continue; fi
  if [[ $key == ram_mb ]]; then
    have=$(memtotal_mb) || die "cannot read MemTotal from ${VDI_APPLY_MEMINFO:-/proc/meminfo}"
    ok=$((have * 10 >= want * 9))
  else
    have=$(nproc --all) && [[ $have =~ ^[0-9]+$ ]] || die "cannot count CPUs with nproc --all"
    ok=$((have >= want))
  fi
  if ((ok == 0)); then
    printf 'vdi-apply: declared %s %s but host has %s\n' "$key" "$want" "$have" >&2
    exit 3
  fi
done

# ---------------------------------------------------------------- 2. lock + journal
RUN_DIR=${VDI_APPLY_RUN_DIR:-$PREFIX/run}
mkdir -p -- "$RUN_DIR" || die "cannot create $RUN_DIR"
exec 9>> "$RUN_DIR/vdi-apply.lock" || die "cannot open $RUN_DIR/vdi-apply.lock"
flock -w 600 9 || die "timed out after 600 s waiting for $RUN_DIR/vdi-apply.lock (another vdi-apply running?)"
JOURNAL=$RUN_DIR/vdi-apply.pending

CHANGES=0 RESTARTS=0 RELOAD=0 JOURNAL_ON=0
SYSCTLS=() EXECS=() UNITS=() POSTS=()
declare -A TRIGGERED=()
trigger() { # <daemon-reload|sysctl|exec|restart|post> <path|unit|->, each at most once
  [[ -z ${TRIGGERED["$1 $2"]:-} ]] || return 0
  TRIGGERED["$1 $2"]=1
  if ((JOURNAL_ON)); then printf '%s %s\n' "$1" "$2" >> "$JOURNAL" || die "cannot write $JOURNAL"; fi
  case $1 in
    daemon-reload) RELOAD=1 ;;
    sysctl) SYSCTLS+=("$2") ;;
    exec) EXECS+=("$2") ;;
    restart) UNITS+=("$2") ;;
    post) POSTS+=("$2") ;;
  esac
}
journal_drop() { # <kind> <arg>: forgets a journaled action (a deferred restart is not redone)
  local kind arg keep=""
  [[ -f $JOURNAL ]] || return 0
  while read -r kind arg; do
    if [[ "$kind $arg" != "$1 $2" ]]; then keep+="$kind $arg"$'\n'; fi
  done < "$JOURNAL"
  printf '%s' "$keep" > "$JOURNAL.new" && mv -f -- "$JOURNAL.new" "$JOURNAL" || die "cannot rewrite $JOURNAL"
}
if [[ -s $JOURNAL ]]; then
  # Only what this document still declares: a unit or file dropped since then is not retried.
  say "redoing actions left pending by an interrupted run"
  while read -r kind arg; do
    if [[ -n ${DECLARED["$kind $arg"]:-} ]]; then trigger "$kind" "$arg"; fi
  done < "$JOURNAL"
fi
JOURNAL_ON=1

# ---------------------------------------------------------------- 3. entries in order
owner_settable() { # <owner> <group>: 0 if chown should be done; prints a reason otherwise
  ((SYSTEM == 0)) || return 0
  if ((EUID != 0)); then echo "not running as root"; return 1; fi
  if ! getent passwd "$1" > /dev/null || ! getent group "$2" > /dev/null; then
    echo "$1:$2 does not exist on this machine"; return 1
  fi
}

apply_file() { # <entry number>
  local n=$1 path=${F_PATH[$1]} mode=${F_MODE[$1]} og="${F_OWNER[$1]}:${F_GROUP[$1]}"
  local target=$PREFIX${F_PATH[$1]} src=$STORE/$1 same_content=0 same_meta=0 why=""
  local setown=1
  why=$(owner_settable "${F_OWNER[n]}" "${F_GROUP[n]}") || setown=0
  if [[ -d $target && ! -L $target ]]; then die "$path is a directory"; fi
  if [[ -f $target && ! -L $target ]]; then
    if cmp -s -- "$src" "$target"; then same_content=1; fi
    local cur_mode cur_og
    cur_mode=$(stat -c %a -- "$target") && cur_og=$(stat -c %U:%G -- "$target") || die "cannot stat $path"
    if ((8#$cur_mode == 8#$mode)) && { ((setown == 0)) || [[ $cur_og == "$og" ]]; }; then same_meta=1; fi
  fi
  if ((same_content && same_meta)); then return 0; fi

  local dir=${target%/*}
  mkdir -p -- "${dir:-/}" || die "cannot create the directory of $path"
  PENDING_TMP=$(mktemp -- "${dir}/.vdi-apply.XXXXXX") || die "cannot create a temporary file next to $path"
  cat -- "$src" > "$PENDING_TMP" || die "cannot write $path"
  if ((setown)); then
    chown -- "$og" "$PENDING_TMP" || die "cannot chown $path to $og"
  else
    say "note: owner of $path left as is ($why)"
  fi
  chmod -- "$mode" "$PENDING_TMP" || die "cannot chmod $path" # after chown: chown clears setuid
  run sync -- "$PENDING_TMP" 2> /dev/null || true # durable before the rename; best effort
  if ((same_content == 0)) && [[ -n ${F_TRIGGERS[n]} ]]; then
    local kind arg
    while read -r kind arg; do trigger "$kind" "$arg"; done <<< "${F_TRIGGERS[n]%$'\n'}"
  fi
  mv -f -- "$PENDING_TMP" "$target" || die "cannot replace $path"
  PENDING_TMP=""
  CHANGES=$((CHANGES + 1))
  if ((same_content)); then say "fixed-metadata $path"; else say "changed $path"; fi
}

APT_LOG_START=0
apt_run() { # <command...>: runs it for the install, output appended to the apt log
  run env DEBIAN_FRONTEND=noninteractive OVS_FORCE_RELOAD_KMOD=no "$@" < /dev/null >> "$APT_LOG" 2>&1
}
apt_fail() { # <message>: copies the last 30 lines this run added to the apt log to stderr, dies
  printf 'vdi-apply: last lines of %s:\n' "$APT_LOG" >&2
  tail -c "+$((APT_LOG_START + 1))" -- "$APT_LOG" | tail -n 30 >&2 || true
  die "$1"
}
policy_deny() { # puts a policy-rc.d in place that denies every daemon action (exit 101)
  POLICY_ACTIVE=1
  policy_restore || die "cannot clean up $POLICY_RC_D left by an interrupted run"
  if [[ -e $POLICY_SAVED || -L $POLICY_SAVED ]]; then
    die "both $POLICY_RC_D and $POLICY_SAVED exist (left by an interrupted run?): keep one by hand"
  fi
  if [[ -e $POLICY_RC_D || -L $POLICY_RC_D ]]; then
    mv -- "$POLICY_RC_D" "$POLICY_SAVED" || die "cannot move $POLICY_RC_D aside"
  fi
  # One exception: D-Bus may reload its configuration. A package that adds a system user and a
  # bus policy for it asks for that in its postinst (polkitd: "invoke-rc.d dbus reload"); denied,
  # the bus never learns the user, polkitd cannot own its name, and libvirtd's polkit check of
  # nova-compute's connection times out ("Failed to activate service 'org.freedesktop.PolicyKit1'"):
  # found on a booted Debian 12 compute host in the lab. A reload starts and restarts nothing.
  { printf '%s\n' '#!/bin/sh' "$POLICY_MARK" \
    'while [ $# -gt 0 ] && [ "${1#--}" != "$1" ]; do shift; done' \
    'if [ "$1" = dbus ] && [ -n "$2" ]; then' \
    '  for a in $2; do case $a in reload | force-reload) ;; *) exit 101 ;; esac; done' \
    '  exit 0' \
    'fi' \
    'exit 101' > "$POLICY_RC_D.vdi-apply-new" &&
    chmod 0755 -- "$POLICY_RC_D.vdi-apply-new" &&
    mv -f -- "$POLICY_RC_D.vdi-apply-new" "$POLICY_RC_D"; } || die "cannot write $POLICY_RC_D"
}
install_packages() { # <name=version...>: finishes interrupted installs, then installs these
  mkdir -p -- "${APT_LOG%/*}" || die "cannot create ${APT_LOG%/*}"
  printf '==== %s vdi-apply host=%s: install %s\n' "$(date -u +%Y-%m-%dT%H:%M:%SZ)" "$HOST" "$*" >> "$APT_LOG" ||
    die "cannot write $APT_LOG"
  APT_LOG_START=$(stat -c %s -- "$APT_LOG") || die "cannot stat $APT_LOG"
  trap '' HUP PIPE # a dropped SSH session must not kill dpkg half-way
  policy_deny
  apt_run dpkg --force-confold --configure -a || apt_fail "dpkg --configure -a failed (finishing an earlier install)"
  apt_run apt-get update -q || apt_fail "apt-get update failed"
  apt_run apt-get install -y -q --no-install-recommends \
    -o Dpkg::Options::=--force-confold --allow-downgrades --allow-change-held-packages \
    "$@" || apt_fail "apt-get install failed for: $*"
  policy_restore || die "cannot restore $POLICY_RC_D (original kept as $POLICY_SAVED)"
  POLICY_ACTIVE=0
  trap 'exit 129' HUP
  trap - PIPE
}

installed_version() { # prints the installed version of a package, nothing if not installed
  local out
  out=$(dpkg-query -W -f='${db:Status-Status} ${Version}\n' "$1" 2> /dev/null) || return 0
  out=${out%%$'\n'*}
  if [[ $out == "installed "* ]]; then printf '%s' "${out#installed }"; fi
}

apply_packages() {
  local i name held todo=() hold=()
  if ((SYSTEM == 0)); then
    for i in "${!PKG_NAMES[@]}"; do todo+=("${PKG_NAMES[i]}=${PKG_VERSIONS[i]}"); done
    skip "install and hold of ${todo[*]}"
    return 0
  fi
  local old unit
  for i in "${!PKG_NAMES[@]}"; do
    old=$(installed_version "${PKG_NAMES[i]}")
    if [[ $old != "${PKG_VERSIONS[i]}" ]]; then
      todo+=("${PKG_NAMES[i]}=${PKG_VERSIONS[i]}")
      # Another version runs now: once the new one is installed, what runs its code restarts.
      # Triggered (and journaled) before the install, so a run that dies after it still restarts.
      if [[ -n $old ]]; then
        if [[ -n ${PKG_RESTARTS[i]} ]]; then
          for unit in ${PKG_RESTARTS[i]//,/ }; do trigger restart "$unit"; done
        else
          say "note: ${PKG_NAMES[i]} $old -> ${PKG_VERSIONS[i]}: nothing to restart; the new code runs after the next reboot or guest restart"
        fi
      fi
    fi
  done
  if ((${#todo[@]})); then
    install_packages "${todo[@]}"
    for i in "${todo[@]}"; do say "installed $i"; done
    CHANGES=$((CHANGES + ${#todo[@]}))
  fi
  held=$'\n'$(run apt-mark showhold)$'\n' || die "apt-mark showhold failed"
  for name in "${PKG_NAMES[@]}"; do
    if [[ $held != *$'\n'"$name"$'\n'* ]]; then hold+=("$name"); fi
  done
  if ((${#hold[@]})); then
    run apt-mark hold "${hold[@]}" > /dev/null || die "apt-mark hold failed for: ${hold[*]}"
    for name in "${hold[@]}"; do say "held $name"; done
    CHANGES=$((CHANGES + ${#hold[@]}))
  fi
}

PACKAGES_DONE=0
for n in "${!ENTRY_KIND[@]}"; do
  if [[ ${ENTRY_KIND[n]} == file ]]; then
    apply_file "$n"
  elif ((PACKAGES_DONE == 0)); then
    apply_packages
    PACKAGES_DONE=1
  fi
done

# ---------------------------------------------------------------- 4. action phase
if ((RELOAD)); then
  if ((SYSTEM)); then run systemctl daemon-reload || die "systemctl daemon-reload failed"; else skip daemon-reload; fi
fi
for unit in "${ENABLES[@]}"; do
  if ((SYSTEM == 0)); then skip "enable $unit"; continue; fi
  if ! run systemctl is-enabled --quiet "$unit"; then
    run systemctl enable "$unit" >&2 || die "systemctl enable $unit failed"
    say "enabled $unit"
    CHANGES=$((CHANGES + 1))
  fi
done
for path in "${EXECS[@]}"; do
  if ((SYSTEM)); then run "$path" < /dev/null >&2 || die "exec $path failed"; else skip "exec $path"; fi
done
# In a container the kernel keeps most of /proc/sys for the host (only net.* is per network
# namespace, and not all of it): such a key is skipped there with a report line, never elsewhere.
if [[ -n ${VDI_APPLY_CONTAINER:-} ]]; then IN_CONTAINER=$VDI_APPLY_CONTAINER
elif command -v systemd-detect-virt > /dev/null && run systemd-detect-virt --quiet --container; then IN_CONTAINER=1
else IN_CONTAINER=0; fi
PROC_SYS=${VDI_APPLY_PROC_SYS:-/proc/sys}
apply_sysctl() { # <file>: writes each "key = value" to /proc/sys and reads it back (sysctl -p exits 0 on some refusals)
  local line key value proc have
  while IFS= read -r line || [[ -n $line ]]; do
    line=${line%%[#;]*}
    [[ $line =~ ^[[:space:]]*(-?)([A-Za-z0-9_.-]+)[[:space:]]*=[[:space:]]*(.*[^[:space:]])[[:space:]]*$ ]] || continue
    key=${BASH_REMATCH[2]} value=${BASH_REMATCH[3]}
    proc=$PROC_SYS/${key//.//}
    if [[ ! -e $proc ]] || ! { printf '%s\n' "$value" > "$proc"; } 2> /dev/null; then
      if ((IN_CONTAINER)); then
        say "skipped sysctl $key (the kernel does not let a container set it)"
        continue
      fi
      die "sysctl $key = $value: $proc is missing or refused the value"
    fi
    have=$(< "$proc") || die "cannot read back $proc"
    read -ra have_words <<< "$have"
    read -ra want_words <<< "$value"
    [[ "${have_words[*]}" == "${want_words[*]}" ]] || die "sysctl $key reads back \"$have\", not \"$value\""
  done < "$1"
}
for path in "${SYSCTLS[@]}"; do
  if ((SYSTEM)); then apply_sysctl "$path"; else skip "sysctl $path"; fi
done
declare -A DEFERRED=()
CHANGED_UNITS=()
deferred() { # <unit>: 0 (and reported once) if a path the unit needs is missing
  local p list
  read -ra list <<< "${NEEDS[$1]:-}"
  for p in "${list[@]}"; do
    if [[ ! -e $PREFIX$p ]]; then
      if [[ -z ${DEFERRED[$1]:-} ]]; then say "deferred $1 (waiting for $p)"; fi
      DEFERRED[$1]=1
      return 0
    fi
  done
  return 1
}
for unit in "${UNITS[@]}"; do
  if deferred "$unit"; then journal_drop restart "$unit"; continue; fi
  if ((SYSTEM)); then
    run systemctl restart "$unit" || die "systemctl restart $unit failed"
    say "restarted $unit"
    CHANGED_UNITS+=("$unit")
  else
    skip "restart $unit"
  fi
  RESTARTS=$((RESTARTS + 1))
done
for unit in "${STARTS[@]}"; do
  if deferred "$unit"; then continue; fi
  if ((SYSTEM == 0)); then skip "start $unit"; continue; fi
  if ! run systemctl is-active --quiet "$unit"; then
    run systemctl start "$unit" || die "systemctl start $unit failed"
    say "started $unit"
    CHANGED_UNITS+=("$unit")
    RESTARTS=$((RESTARTS + 1))
  fi
done
# Health: what this run restarted or started must be running (a canary whose service crashed
# stops the rollout). Units still activating are waited for, bounded; then, after a short
# settle, each is asked once more (a daemon that exits right after starting).
unhealthy() { # <unit> <state>
  printf 'vdi-apply: error: %s is %s after this run (re)started it\n' "$1" "$2" >&2
  run systemctl status --no-pager --lines=10 "$1" >&2 || true
  exit 4
}
if ((SYSTEM)) && ((${#CHANGED_UNITS[@]})); then
  HEALTH_DEADLINE=$((SECONDS + ${VDI_APPLY_HEALTH_TIMEOUT:-180}))
  for pass in wait settle; do
    if [[ $pass == settle ]]; then sleep "${VDI_APPLY_SETTLE:-5}"; fi
    for unit in "${CHANGED_UNITS[@]}"; do
      while :; do
        state=$(run systemctl is-active "$unit" 2> /dev/null) || true
        [[ $state == active ]] && break
        # A unit whose Condition*= is not met was skipped by systemd, not failed (the KSM unit
        # where /sys/kernel/mm/ksm is read-only, as in a container): said, not fatal.
        if [[ $state == inactive ]] && [[ $(run systemctl show -p ConditionResult --value "$unit" 2> /dev/null) == no ]]; then
          printf 'vdi-apply: warning: %s skipped: a Condition of the unit is not met (systemctl status %s)\n' "$unit" "$unit" >&2
          break
        fi
        [[ $state == activating || $state == reloading ]] || unhealthy "$unit" "${state:-unknown}"
        ((SECONDS < HEALTH_DEADLINE)) || unhealthy "$unit" "still $state ${VDI_APPLY_HEALTH_TIMEOUT:-180} s later"
        sleep 2
      done
    done
  done
fi
for path in "${POSTS[@]}"; do
  if ((SYSTEM)); then run "$path" < /dev/null >&2 || die "post $path failed"; else skip "post $path"; fi
done
for i in "${!CHECK_PATHS[@]}"; do
  if deferred "${CHECK_UNITS[i]}"; then continue; fi
  if ((SYSTEM == 0)); then skip "check ${CHECK_PATHS[i]}"; continue; fi
  if ! run "${CHECK_PATHS[i]}" < /dev/null >&2; then
    printf 'vdi-apply: error: check %s (for %s) failed\n' "${CHECK_PATHS[i]}" "${CHECK_UNITS[i]}" >&2
    exit 4
  fi
done
rm -f -- "$JOURNAL" || die "cannot remove $JOURNAL"

# ---------------------------------------------------------------- 5. keep a copy of the script
if [[ -n ${BASH_EXECUTION_STRING:-} ]]; then
  LIB_DIR=${VDI_APPLY_LIB_DIR:-$PREFIX/usr/local/lib/vdi-apply}
  SUM=$(printf '%s' "$BASH_EXECUTION_STRING" | sha256sum) || die "cannot hash the apply script"
  SUM=${SUM%% *}
  if ! printf '%s  %s\n' "$SUM" "$LIB_DIR/$SUM.sh" | sha256sum -c --status 2> /dev/null; then
    mkdir -p -- "$LIB_DIR" || die "cannot create $LIB_DIR"
    PENDING_TMP=$(mktemp -- "$LIB_DIR/.vdi-apply.XXXXXX") || die "cannot create a temporary file in $LIB_DIR"
    printf '%s' "$BASH_EXECUTION_STRING" > "$PENDING_TMP" && chmod 0644 -- "$PENDING_TMP" || die "cannot write a copy of the apply script to $LIB_DIR"
    # No sync: the credentials command checks the hash before running it, so a copy torn by a
    # crash fails safe (and names the fix).
    mv -f -- "$PENDING_TMP" "$LIB_DIR/$SUM.sh" || die "cannot write $LIB_DIR/$SUM.sh"
    PENDING_TMP=""
  fi
  for old in "$LIB_DIR"/*.sh; do
    if [[ -f $old && $old != "$LIB_DIR/$SUM.sh" ]]; then rm -f -- "$old" || die "cannot remove the old copy $old"; fi
  done
fi

say "host=$HOST changes=$CHANGES restarts=$RESTARTS"
