/**
 * The scripts a standby runs: the join of its group, then its wait for its task, which it reads and
 * execs (see standby.ts). What the agent writes for that wait is `launch`'s (_standby_handover.ts).
 */
// $0: the group's cgroup.procs, $1: env, $2: the file the task comes in, opened first ("": the task
// comes on stdin; a standby handed its task before it opened its file gets it on stdin too, and its
// file is gone by then, which is no error). $4: the group's cgroup.procs in the pids hierarchy (cgroup v1; "": none or the
// same), joined first. A join that fails ends it as a direct start's would (a task handed to it fails
// to start, saying why). Run as root.
const JOIN = `if [[ $2 ]]; then { exec 3<"$2"; } 2>/dev/null; fi
{ if [[ $4 ]]; then echo $$ > "$4"; fi && echo $$ > "$0"; } 2>/dev/null ||
  { echo "fabric: cannot join the task's cgroup" >&2; exit 125; }
`;
// The same $0-$3, then waits for its task, in its group (and switched). A byte on stdin says where the
// task is: "p" on stdin after it, any other in the file. A file is read in large reads; a pipe a byte
// at a time (bash cannot put back what it read past a delimiter). Without a task (the agent dropped the
// standby, or died) the read fails and it exits, removing its file if it may (an agent killed with -9
// cannot: in /dev/shm they would pile up; the task user's standby may not, and the agent removes its
// file's name once it has it open). $3: the locale tasks usually have, loaded while it waits (~0.2
// ms): exporting that LANG again for a task is then ~5 us.
export const WAIT = `if [[ $3 ]]; then { LANG=$3; } 2>/dev/null; fi
if [[ $2 ]]; then IFS= read -r -N 1 go || { rm -f -- "$2" 2>/dev/null; exit 125; }
  if [[ $go == p ]]; then mapfile -d '' -t f; else mapfile -d '' -t f <&3 || exit 125; fi; exec 3<&-
else mapfile -d '' -t f; fi
count=\${f[2]}; vars=("\${f[@]:3:count}"); args=("\${f[@]:3+count}")
(( \${#args[@]} )) || exit 125
cd -- "\${f[1]}" || exit 125
if [[ \${f[0]} == export ]]; then
  unset PATH PWD OLDPWD
  for v in "\${vars[@]}"; do export "$v" || exit 125; done 2>/dev/null
  exec </dev/null "\${args[@]}"
fi
exec </dev/null "$1" -i -- "\${vars[@]}" "\${args[@]}"`;
/** The agent's standby: joins, then waits as it is. */
export const SCRIPT = JOIN + WAIT;
// The task user's, in sh (dash starts in about half a bash's time; measured under load, 15-20 ms
// against 25): the same join as root, then $5 is WAIT and $6... the switch (setpriv ... -- bash
// --noprofile --norc -c), which runs it with the same $0-$3 and no $4. (`command exec`: a file that
// is gone is no error that ends sh.)
export const SWITCH_SCRIPT = `if [ -n "$2" ]; then { command exec 3<"$2"; } 2>/dev/null; fi
{ if [ -n "$4" ]; then echo $$ > "$4"; fi && echo $$ > "$0"; } 2>/dev/null ||
  { echo "fabric: cannot join the task's cgroup" >&2; exit 125; }
p=$0 e=$1 i=$2 l=$3 w=$5; shift 5; exec "$@" "$w" "$p" "$e" "$i" "$l"`;
