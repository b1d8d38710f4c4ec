#!/usr/bin/env bash
# A throwaway single-node Ceph (16, Pacific, as Debian 12 packages it) with one RADOS gateway, on
# loopback and without systemd, for the opt-in real-Ceph tests (REFINERY_TEST_CEPH=1).
#
#   bash scripts/ceph-rgw.sh start DIR    prints one JSON line: {"url", "region", "accessKeyId",
#                                         "secretAccessKey", "uid", "seconds"} of an admin user
#                                         with caps users=*;buckets=*
#   bash scripts/ceph-rgw.sh stop DIR     stops the daemons started in DIR (by their pid files)
#
# Needs: apt-get install -y --no-install-recommends ceph-mon ceph-osd radosgw ceph-common
# (not part of scripts/setup.sh, nor of CI: it is ~290 MB and only these tests use it).
#
# Layout: one monitor, ONE OSD on memstore (objects live in the OSD's memory: nothing to format,
# no block device), pools of size 1, no manager (the gateway only needs the monitor
# to create its pools; the manager only adds metrics and the PG autoscaler), and one radosgw with
# the beast frontend. Ports are free ones picked at start unless CEPH_MON_PORT / CEPH_RGW_PORT are
# set. Everything (config, keyring, logs, pid files, sockets) stays inside DIR; `stop` leaves DIR
# for the caller to delete (its logs explain a failed start).
set -euo pipefail

usage() { echo "usage: $0 start|stop DIR" >&2; exit 2; }
[[ $# -eq 2 ]] || usage
CMD="$1"
DIR="$(mkdir -p "$2" && cd "$2" && pwd)"
CONF="$DIR/ceph.conf"
START_TIMEOUT_S="${CEPH_START_TIMEOUT_S:-180}"

log() { printf 'ceph-rgw: %s\n' "$*" >&2; }
fail() {
  log "FAILED: $1"
  for f in "$DIR"/log/*.log; do
    [[ -s "$f" ]] || continue
    printf -- '----- last 30 lines of %s -----\n' "$f" >&2
    tail -n 30 "$f" >&2
  done
  stop_all
  exit 1
}

# A free TCP port on 127.0.0.1 (node is there: the project needs it anyway).
free_port() {
  node -e 'const s=require("net").createServer();s.listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})'
}

# Stop the daemons of DIR by their pid files, each with SIGTERM and SIGKILL after 10 s, one after
# the other (~2 s each): a gateway whose OSD is stopping at the same time sometimes hangs until the
# SIGKILL, and an OSD whose monitor is gone waits 5 s to report itself down.
stop_all() {
  local name
  for name in client.rgw.0 osd.0 mon.a; do stop_one "$DIR/run/$name.pid"; done
}

stop_one() {
  local pidfile="$1" pid
  [[ -f "$pidfile" ]] || return 0
  pid="$(cat "$pidfile" 2>/dev/null || true)"
  rm -f "$pidfile"
  # only a process that is still this daemon (pids are reused)
  [[ "$pid" =~ ^[0-9]+$ ]] && grep -qa -- "$CONF" "/proc/$pid/cmdline" 2>/dev/null || return 0
  kill -TERM "$pid" 2>/dev/null || true
  local deadline=$((SECONDS + 10))
  while kill -0 "$pid" 2>/dev/null && ((SECONDS < deadline)); do sleep 0.1; done
  if kill -KILL "$pid" 2>/dev/null; then log "$(basename "$pidfile" .pid) did not stop within 10 s of SIGTERM: killed"; fi
}

start() {
  local tool
  for tool in ceph-mon ceph-osd radosgw radosgw-admin ceph ceph-authtool monmaptool; do
    if ! command -v "$tool" >/dev/null; then
      log "$tool is missing: apt-get install -y --no-install-recommends ceph-mon ceph-osd radosgw ceph-common"
      exit 1
    fi
  done
  [[ ! -e "$CONF" ]] || { log "$DIR already holds a cluster; stop it and use an empty directory"; exit 1; }
  local t0=$SECONDS
  mkdir -p "$DIR"/{run,log,mon.a,osd.0,rgw}
  local fsid mon_port rgw_port osd_uuid
  fsid="$(cat /proc/sys/kernel/random/uuid)"
  osd_uuid="$(cat /proc/sys/kernel/random/uuid)"
  mon_port="${CEPH_MON_PORT:-$(free_port)}"
  rgw_port="${CEPH_RGW_PORT:-$(free_port)}"

  # msgr v2 only: one port, and no v1 fallback needed between daemons of the same version.
  cat >"$CONF" <<EOF
[global]
fsid = $fsid
mon host = v2:127.0.0.1:$mon_port
public addr = 127.0.0.1
ms bind msgr1 = false
keyring = $DIR/keyring
run dir = $DIR/run
pid file = $DIR/run/\$name.pid
admin socket = $DIR/run/\$name.asok
log file = $DIR/log/\$name.log
# one OSD: replicas of 1, placement across OSDs (not hosts), few placement groups
osd pool default size = 1
osd pool default min size = 1
mon allow pool size one = true
mon warn on pool no redundancy = false
osd crush chooseleaf type = 0
osd pool default pg num = 8
osd pool default pgp num = 8
osd pool default pg autoscale mode = off
mon max pg per osd = 1000
# the test machine's disk fill level is not this cluster's business
mon data avail warn = 1
mon data avail crit = 0
[mon]
mon data = $DIR/mon.\$id
[osd]
osd data = $DIR/osd.\$id
osd objectstore = memstore
# the capacity memstore reports (it allocates only what objects use)
memstore device bytes = 1073741824
[client.rgw.0]
rgw data = $DIR/rgw
rgw frontends = beast endpoint=127.0.0.1:$rgw_port
rgw enable usage log = false
EOF

  # One keyring for every daemon; the monitor's --mkfs imports all of it into its auth database,
  # so no `ceph auth add` round trips are needed later.
  local kr="$DIR/keyring"
  ceph-authtool --create-keyring "$kr" --gen-key -n mon. --cap mon 'allow *' >/dev/null
  ceph-authtool "$kr" --gen-key -n client.admin --cap mon 'allow *' --cap osd 'allow *' --cap mgr 'allow *' >/dev/null
  ceph-authtool "$kr" --gen-key -n osd.0 --cap mon 'allow profile osd' --cap osd 'allow *' --cap mgr 'allow profile osd' >/dev/null
  ceph-authtool "$kr" --gen-key -n client.rgw.0 --cap mon 'allow rw' --cap osd 'allow rwx' --cap mgr 'allow rw' >/dev/null
  chmod 600 "$kr"

  monmaptool --create --fsid "$fsid" --addv a "[v2:127.0.0.1:$mon_port]" "$DIR/monmap" >/dev/null
  ceph-mon -c "$CONF" -i a --mkfs --monmap "$DIR/monmap" --keyring "$kr" >>"$DIR/log/setup.log" 2>&1 \
    || fail "ceph-mon --mkfs"
  ceph-mon -c "$CONF" -i a >>"$DIR/log/setup.log" 2>&1 || fail "ceph-mon did not start"

  # Register the OSD (id 0) with the monitor, then format (in memory) and start it.
  local i
  for ((i = 0; ; i++)); do
    if ceph -c "$CONF" --connect-timeout 5 osd new "$osd_uuid" 0 >>"$DIR/log/setup.log" 2>&1; then break; fi
    ((SECONDS - t0 < START_TIMEOUT_S)) || fail "the monitor did not answer 'ceph osd new'"
    sleep 0.5
  done
  ceph-osd -c "$CONF" -i 0 --mkfs --osd-uuid "$osd_uuid" >>"$DIR/log/setup.log" 2>&1 || fail "ceph-osd --mkfs"
  ceph-osd -c "$CONF" -i 0 >>"$DIR/log/setup.log" 2>&1 || fail "ceph-osd did not start"

  radosgw -c "$CONF" -n client.rgw.0 >>"$DIR/log/setup.log" 2>&1 || fail "radosgw did not start"

  # The gateway answers anonymous GET / with a ListAllMyBuckets document once it is serving.
  local url="http://127.0.0.1:$rgw_port"
  until node -e 'fetch(process.argv[1]).then((r)=>process.exit(r.status===200?0:1),()=>process.exit(1))' "$url"; do
    ((SECONDS - t0 < START_TIMEOUT_S)) || fail "radosgw did not answer on $url within ${START_TIMEOUT_S}s"
    sleep 0.5
  done

  local user_json
  user_json="$(radosgw-admin -c "$CONF" -n client.admin user create --uid=refinery-admin \
    --display-name='Refinery test admin' --caps='users=*;buckets=*' 2>>"$DIR/log/setup.log")" \
    || fail "radosgw-admin user create"
  printf '%s' "$user_json" | node -e '
    let s = ""; process.stdin.on("data", (d) => (s += d)).on("end", () => {
      const u = JSON.parse(s), k = u.keys[0];
      console.log(JSON.stringify({ url: process.argv[1], region: "default", accessKeyId: k.access_key,
        secretAccessKey: k.secret_key, uid: u.user_id, seconds: Number(process.argv[2]) }));
    });' "$url" "$((SECONDS - t0))"
  log "up in $((SECONDS - t0))s: $url (logs in $DIR/log)"
}

case "$CMD" in
  start) start ;;
  stop) stop_all ;;
  *) usage ;;
esac
