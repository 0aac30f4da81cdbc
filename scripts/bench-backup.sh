#!/usr/bin/env bash
# Backup benchmark (README "Backups"): seeds N records into a dev server (or
# reuses DATA when it holds a database), measures `coffer bench --op get`
# idle, then again while backups run back to back for the whole bench
# window, then `backup create --data`, verify and restore.
# Usage: go build -o coffer ./cmd/coffer && BIN=./coffer N=1000000 scripts/bench-backup.sh
set -euo pipefail
bin=${BIN:-coffer}; port=${PORT:-18811}; N=${N:-1000000}; secs=${SECS:-30}
root=${ROOT:-$(mktemp -d)}; d=${DATA:-$root/data}
$bin serve --dev --data $d --addr 127.0.0.1:$port >$root/serve.log 2>&1 &
pid=$!; trap "kill $pid 2>/dev/null" EXIT
for i in $(seq 1 100); do [ -s $d/dev-admin-token ] && curl -fs http://127.0.0.1:$port/v1/health >/dev/null 2>&1 && break; sleep 0.1; done
export COFFER_TOKEN=$(cat $d/dev-admin-token) COFFER_ADDR=http://127.0.0.1:$port
if [ -z "${DATA:-}" ]; then
  echo "seed $N:"; $bin bench --op get -n 32 -d 5s --seed $N 2>&1 | grep -E "seeded"
fi
$bin backup keygen --out $root/id.key 2>$root/recipient.txt >/dev/null || $bin backup keygen > $root/id.key 2>$root/recipient.txt
chmod 600 $root/id.key; r=$(grep -o 'age1[0-9a-z]*' $root/recipient.txt | head -1)
dbsize=$(( $(stat -c %s $d/coffer.db) + $(stat -c %s $d/coffer.db-wal 2>/dev/null || echo 0) ))
echo "database bytes: $dbsize"
echo "idle: $($bin bench --op get -n 32 -d ${secs}s --seed 1000 | grep RESULT)"
$bin bench --op get -n 32 -d ${secs}s --seed 1000 > $root/during.txt &
bp=$!
n=0; total=0
while kill -0 $bp 2>/dev/null; do
  rm -f $root/b.backup
  t0=$(date +%s.%N)
  $bin backup create --recipient $r --out $root/b.backup >/dev/null
  t1=$(date +%s.%N)
  if kill -0 $bp 2>/dev/null; then # only backups that ended inside the window count
    n=$((n+1)); total=$(python3 -c "print($total+$t1-$t0)")
  fi
done
wait $bp
echo "during backups: $(grep RESULT $root/during.txt)"
python3 -c "n=$n;t=$total;s=$dbsize;print(f'backup create (API, while serving): {n} backups, {t/max(n,1):.2f} s each, {s*n/max(t,1e-9)/1e6:.1f} MB/s of database')"
kill $pid; wait $pid 2>/dev/null || true
rm -f $root/b-data.backup
/usr/bin/time -f "backup create --data (stopped): %e s wall, max RSS %M KB" $bin backup create --data $d --recipient $r --out $root/b-data.backup
/usr/bin/time -f "verify: %e s wall, max RSS %M KB" $bin backup verify $root/b.backup --identity $root/id.key --keys $d/keys.json
rm -rf $root/restored
/usr/bin/time -f "restore: %e s wall, max RSS %M KB" $bin backup restore $root/b.backup --identity $root/id.key --keys $d/keys.json --data $root/restored
