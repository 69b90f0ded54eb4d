#!/usr/bin/env bash
# Cluster check: start a one-node SLURM (slurmctld + slurmd on loopback), run the quick
# profile through `--executor slurm`, run it locally too, and require identical results.
# Usage (root, Debian/Ubuntu): bash tests/cluster/run_slurm.sh [config/quick.yaml]
set -euo pipefail
cfg=${1:-config/quick.yaml}
top=$(cd "$(dirname "$0")/../.." && pwd)
work=$(mktemp -d /tmp/learndyn-slurm.XXXXXX)
t_start=$(date +%s)

if ! command -v slurmctld >/dev/null || ! command -v munged >/dev/null; then
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq slurm-wlm munge >/dev/null
fi
python3 -c "import snakemake_executor_plugin_slurm" 2>/dev/null || python3 -m pip install -q "snakemake-executor-plugin-slurm"

# munge: key, runtime dir, daemon as the munge user
if ! munge -n 2>/dev/null | unmunge >/dev/null 2>&1; then
  [ -s /etc/munge/munge.key ] || { dd if=/dev/urandom of=/etc/munge/munge.key bs=1024 count=1 status=none; }
  chown munge:munge /etc/munge/munge.key && chmod 400 /etc/munge/munge.key
  mkdir -p /run/munge && chown munge:munge /run/munge
  su -s /bin/sh munge -c "/usr/sbin/munged" || runuser -u munge -- /usr/sbin/munged
  sleep 1
fi
munge -n | unmunge | grep -q Success

# slurm daemons with state under the temp dir
mkdir -p "$work/slurm/state" "$work/slurm/spool"
sed "s#@DIR@#$work/slurm#g" "$top/tests/cluster/slurm.conf.in" > "$work/slurm/slurm.conf"
# job steps (srun inside a batch job) read the default location, so install it there too
mkdir -p /etc/slurm
[ -f /etc/slurm/slurm.conf ] && cp /etc/slurm/slurm.conf "$work/slurm/slurm.conf.before"
cp "$work/slurm/slurm.conf" /etc/slurm/slurm.conf
export SLURM_CONF=/etc/slurm/slurm.conf
stop() {
  for pid in "$work/slurm/slurmd.pid" "$work/slurm/slurmctld.pid"; do
    [ -f "$pid" ] && kill "$(cat "$pid")" 2>/dev/null || true
  done
  if [ -f "$work/slurm/slurm.conf.before" ]; then cp "$work/slurm/slurm.conf.before" /etc/slurm/slurm.conf
  else rm -f /etc/slurm/slurm.conf; fi
}
trap stop EXIT
slurmctld -f "$SLURM_CONF"
slurmd -f "$SLURM_CONF"
for _ in $(seq 30); do sinfo -h -o %T 2>/dev/null | grep -qE "idle|mix" && break; sleep 1; done
sinfo

# two copies of the checkout: one runs locally, one through SLURM
for side in local slurm; do
  mkdir -p "$work/$side"
  (cd "$top" && git ls-files -co --exclude-standard -z | xargs -0 cp --parents -t "$work/$side")
  (cd "$work/$side" && git init -q && git add -A && git -c user.email=t@t -c user.name=t commit -qm copy)
done
t0=$(date +%s)
(cd "$work/local" && snakemake --cores 2 --configfile "$cfg" > "$work/local.log" 2>&1)
t1=$(date +%s)
(cd "$work/slurm" && snakemake --workflow-profile profiles/slurm --configfile "$cfg" > "$work/slurm.log" 2>&1) \
  || { tail -40 "$work/slurm.log"; exit 1; }
t2=$(date +%s)
grep -q "slurm" "$work/slurm.log"
echo "local run: $((t1 - t0)) s; slurm run: $((t2 - t1)) s; total with setup: $((t2 - t_start)) s"
python3 -m learndyn.reproduce "$work/local" "$work/slurm"
