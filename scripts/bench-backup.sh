#!/usr/bin/env bash
# Backup benchmark (README "Backups"): seeds N records into a dev server, measures
# `coffer bench --op get` idle and during `coffer backup create`, then verify and restore.
# Usage: go build -o coffer ./cmd/coffer && BIN=./coffer N=1000000 scripts/bench-backup.sh
set -euo pipefail
bin=${BIN:-coffer}; port=${PORT:-18811}; N=${N:-1000000}
root=${ROOT:-$(mktemp -d)}; d=$root/data
$bin serve --dev --data $d --addr 127.0.0.1:$port >$root/serve.log 2>&1 &
pid=$!; trap "kill $pid 2>/dev/null" EXIT
for i in $(seq 1 100); do [ -s $d/dev-admin-token ] && curl -fs http://127.0.0.1:$port/v1/health >/dev/null 2>&1 && break; sleep 0.1; done
export COFFER_TOKEN=$(cat $d/dev-admin-token) COFFER_ADDR=http://127.0.0.1:$port
echo "seed $N + idle get:"; $bin bench --op get -n 32 -d 10s --seed $N 2>&1 | grep -E "seeded|RESULT"
echo "idle get (2):"; $bin bench --op get -n 32 -d 10s --seed 1000 | grep RESULT
$bin backup keygen --out $root/id.key 2>$root/recipient.txt >/dev/null || $bin backup keygen > $root/id.key 2>$root/recipient.txt
chmod 600 $root/id.key; r=$(grep -o 'age1[0-9a-z]*' $root/recipient.txt | head -1)
(sqlite3 $d/coffer.db "select count(*) from records" 2>/dev/null || echo "?") | sed 's/^/records: /'
dbsize=$(( $(stat -c %s $d/coffer.db) + $(stat -c %s $d/coffer.db-wal 2>/dev/null || echo 0) ))
echo "database bytes: $dbsize"
( $bin bench --op get -n 32 -d 40s --seed 1000 | grep RESULT | sed 's/^/during backup: /' ) &
bp=$!
sleep 3
t0=$(date +%s.%N)
$bin backup create --recipient $r --out $root/b.backup
t1=$(date +%s.%N)
wait $bp
python3 -c "import os;t=$t1-$t0;s=$dbsize;print(f'backup create (API, while serving): {t:.1f} s, {s/t/1e6:.1f} MB/s of database, file {os.path.getsize(\"$root/b.backup\")/1e6:.1f} MB')"
kill $pid; wait $pid 2>/dev/null || true
/usr/bin/time -f "backup create --data (stopped): %e s wall, max RSS %M KB" $bin backup create --data $d --recipient $r --out $root/b-data.backup
/usr/bin/time -f "verify: %e s wall, max RSS %M KB" $bin backup verify $root/b.backup --identity $root/id.key --keys $d/keys.json
/usr/bin/time -f "restore: %e s wall, max RSS %M KB" $bin backup restore $root/b.backup --identity $root/id.key --keys $d/keys.json --data $root/restored
