#!/bin/sh
# cluster.sh runs a sheetsync cluster on this machine, for trying replication (docs/deploy.md):
# three NATS servers in one JetStream cluster, three sheetsync replicas each with its own copy of
# samples/, and a round-robin load balancer in front of them. Everything listens on 127.0.0.1.
#
#   sh docs/deploy/cluster.sh up           build, start everything, wait until it is ready
#   sh docs/deploy/cluster.sh status       what runs, where, and the change log's state
#   sh docs/deploy/cluster.sh kill NAME    SIGKILL one process (no shutdown at all)
#   sh docs/deploy/cluster.sh stop NAME    SIGTERM one process and wait for it to exit
#   sh docs/deploy/cluster.sh start NAME   start one process again (or a new replica r4..r9)
#   sh docs/deploy/cluster.sh restart NAME stop, then start (lb: to pick up added replicas)
#   sh docs/deploy/cluster.sh logs NAME    the end of its log
#   sh docs/deploy/cluster.sh down         stop everything it started; the data stays
#   sh docs/deploy/cluster.sh clean        delete the work dir (everything must be down)
#
# NAME is n1, n2, n3 (NATS servers), r1..r9 (replicas) or lb. The work dir is $CLUSTER_DIR,
# by default cluster/ at the repository root:
#
#   bin/          nats-server, sheetsync and lb, built from this repository
#   r1/ r2/ r3/   each replica's folder of spreadsheets
#   state/rN/     each replica's state dir (--state-dir), outside the folders
#   nats/         nN.conf and each NATS server's JetStream store nN/
#   log/ run/     one log and one pid file per process
set -eu

root=$(cd "$(dirname "$0")/../.." && pwd)
work=${CLUSTER_DIR:-$root/cluster}
nats_urls=nats://127.0.0.1:4222,nats://127.0.0.1:4223,nats://127.0.0.1:4224
nats_timeout=30 # seconds for the NATS cluster to elect a JetStream meta leader
ready_timeout=60 # seconds for a replica to load its folder and catch up
stop_timeout=20 # seconds for a process to exit after SIGTERM, before SIGKILL

die() {
	echo "cluster.sh: $*" >&2
	exit 1
}

usage() {
	echo "usage:" >&2
	sed -n '6,14p' "$0" | sed 's/^# \{0,1\}//' >&2
	exit 2
}

# check_name NAME: fail unless NAME is a process this script runs.
check_name() {
	case $1 in
	n[1-3] | r[1-9] | lb) ;;
	*) die "unknown name '$1': want n1, n2, n3 (NATS), r1..r9 (replicas) or lb" ;;
	esac
}

# binary NAME: the program NAME runs, which is also its process name.
binary() {
	case $1 in
	n*) echo nats-server ;;
	r*) echo sheetsync ;;
	lb) echo lb ;;
	esac
}

# num NAME: the digit of n1 or r1.
num() { echo "${1#?}"; }

# url NAME: where NAME answers HTTP (for a NATS server, its monitoring port).
url() {
	case $1 in
	n*) echo "http://127.0.0.1:$((8221 + $(num "$1")))" ;;
	r*) echo "http://127.0.0.1:$((8080 + $(num "$1")))" ;;
	lb) echo "http://127.0.0.1:8080" ;;
	esac
}

# pid NAME: the pid of NAME if it runs (its pid file names a live process of the right
# program), else nothing.
pid() {
	[ -f "$work/run/$1.pid" ] || return 0
	p=$(cat "$work/run/$1.pid")
	if alive "$p" && [ "$(ps -p "$p" -o comm= 2>/dev/null)" = "$(binary "$1")" ]; then
		echo "$p"
	fi
}

# alive PID: whether PID runs; an exited process its parent has not reaped yet (a zombie) does
# not.
alive() {
	case $(ps -p "$1" -o stat= 2>/dev/null) in
	'' | Z*) return 1 ;;
	esac
}

need_tools() {
	command -v go >/dev/null 2>&1 || die "go is not on PATH: install Go 1.26 (https://go.dev/dl/)"
	command -v curl >/dev/null 2>&1 || die "curl is not on PATH: the script polls the processes with it"
}

# init_work: create the work dir, marked as this script's (clean deletes only such a dir).
init_work() {
	mkdir -p "$work/log" "$work/run"
	: >"$work/.cluster.sh"
}

build() {
	mkdir -p "$work/bin"
	echo "building nats-server, sheetsync and lb into $work/bin"
	(cd "$root" && go build -o "$work/bin/nats-server" github.com/nats-io/nats-server/v2) ||
		die "building nats-server from the module in go.mod failed (offline? run 'go mod download' once with network)"
	(cd "$root" && go build -o "$work/bin/sheetsync" ./cmd/sheetsync) || die "building sheetsync failed"
	(cd "$root" && go build -o "$work/bin/lb" ./cmd/sheetsync-lb) || die "building lb failed"
}

# nats_conf N: write the configuration of NATS server nN.
nats_conf() {
	mkdir -p "$work/nats/n$1"
	cat >"$work/nats/n$1.conf" <<EOF
# NATS server n$1 of the local sheetsync cluster. cluster.sh writes this file at every start.
server_name: n$1
listen: 127.0.0.1:$((4221 + $1))
http: 127.0.0.1:$((8221 + $1))
# sheetsync sends each change as one message, up to 64 MB (a big file edit); the default is 1 MB
max_payload: 64MB

jetstream {
  store_dir: "$work/nats/n$1"
}

cluster {
  name: sheetsync
  listen: 127.0.0.1:$((6221 + $1))
  routes: [
    nats-route://127.0.0.1:6222
    nats-route://127.0.0.1:6223
    nats-route://127.0.0.1:6224
  ]
}
EOF
}

# launch NAME: start NAME in the background, its output appended to its log, its pid in run/.
launch() {
	if p=$(pid "$1") && [ -n "$p" ]; then
		echo "$1 already runs (pid $p)"
		return 0
	fi
	init_work
	[ -x "$work/bin/$(binary "$1")" ] || build
	log=$work/log/$1.log
	case $1 in
	n*)
		nats_conf "$(num "$1")"
		set -- "$1" "$work/bin/nats-server" -c "$work/nats/$1.conf"
		;;
	r*)
		if [ ! -d "$work/$1" ]; then
			mkdir -p "$work/$1"
			echo "$work/$1 did not exist: $1 starts with an empty folder"
		fi
		mkdir -p "$work/state/$1"
		set -- "$1" "$work/bin/sheetsync" serve --dir "$work/$1" --state-dir "$work/state/$1" \
			--addr "127.0.0.1:$((8080 + $(num "$1")))" --replica "$1" --nats "$nats_urls"
		;;
	lb)
		backends=
		for d in "$work"/r[1-9]; do
			[ -d "$d" ] && backends=$backends${backends:+,}$(url "${d##*/}")
		done
		set -- "$1" "$work/bin/lb" -listen 127.0.0.1:8080 -backends "$backends"
		;;
	esac
	name=$1
	shift
	printf '\n--- %s: %s\n' "$(date '+%Y-%m-%d %H:%M:%S')" "$*" >>"$log"
	nohup "$@" >>"$log" 2>&1 </dev/null &
	echo $! >"$work/run/$name.pid"
	echo "started $name (pid $!): $*"
}

# wait_ready NAME SECONDS: wait until NAME answers GET /healthz (NATS: it has a JetStream meta
# leader) or /readyz (replicas, lb) with 200; fail with its log when it exits or the time is up.
wait_ready() {
	case $1 in
	n*) path=/healthz ;;
	*) path=/readyz ;;
	esac
	deadline=$(($(date +%s) + $2))
	while :; do
		if curl -fsS -o /dev/null --max-time 2 "$(url "$1")$path" 2>/dev/null; then
			return 0
		fi
		if [ -z "$(pid "$1")" ]; then
			echo "cluster.sh: $1 exited while starting; the end of $work/log/$1.log:" >&2
			tail -n 15 "$work/log/$1.log" >&2
			exit 1
		fi
		if [ "$(date +%s)" -ge "$deadline" ]; then
			echo "cluster.sh: $1 not ready after $2 s: $(curl -sS --max-time 2 "$(url "$1")$path" 2>&1)" >&2
			case $1 in n*) echo "(a NATS server is ready once two of n1, n2, n3 run: JetStream needs a majority)" >&2 ;; esac
			echo "the end of $work/log/$1.log:" >&2
			tail -n 15 "$work/log/$1.log" >&2
			exit 1
		fi
		sleep 0.2
	done
}

# meta_leader: the JetStream meta leader the first running NATS server knows, or nothing.
meta_leader() {
	for n in n1 n2 n3; do
		[ -n "$(pid $n)" ] || continue
		curl -sS --max-time 2 "$(url $n)/jsz" 2>/dev/null | tr -d ' \n' |
			sed -n 's/.*"meta_cluster":{[^}]*"leader":"\([^"]*\)".*/\1/p'
		return 0
	done
}

# field JSON KEY: the first value of KEY in JSON (without spaces), unquoted.
field() {
	echo "$1" | grep -o "\"$2\":[^,}]*" | head -n 1 | cut -d: -f2- | tr -d '"'
}

# stream_summary: one line on the SHEETSYNC stream, from the first running NATS server.
stream_summary() {
	for n in n1 n2 n3; do
		[ -n "$(pid $n)" ] || continue
		j=$(curl -sS --max-time 2 "$(url $n)/jsz?streams=true&config=true" 2>/dev/null | tr -d ' \n')
		case $j in
		*'"name":"SHEETSYNC"'*) ;;
		*)
			echo "stream SHEETSYNC: not created yet (a replica creates it when it starts)"
			return 0
			;;
		esac
		j=${j#*'"name":"SHEETSYNC"'}
		echo "stream SHEETSYNC: $(field "$j" num_replicas) replicas, $(field "$j" messages) messages," \
			"last sequence $(field "$j" last_seq), leader $(field "$j" leader)"
		return 0
	done
	echo "stream SHEETSYNC: no NATS server runs"
}

up() {
	need_tools
	init_work
	build
	for n in 1 2 3; do launch "n$n"; done
	echo "waiting for the NATS cluster to elect a JetStream meta leader (at most $nats_timeout s)"
	for n in 1 2 3; do wait_ready "n$n" "$nats_timeout"; done
	echo "NATS cluster 'sheetsync' ready: $nats_urls, JetStream meta leader $(meta_leader)"
	for r in 1 2 3; do
		if [ ! -d "$work/r$r" ]; then
			mkdir -p "$work/r$r"
			cp "$root"/samples/* "$work/r$r/"
			echo "copied samples/ into $work/r$r"
		fi
	done
	# one after the other: the first creates the change log's stream, and NATS may time out
	# several clients creating the same stream at once
	for r in 1 2 3; do
		launch "r$r"
		wait_ready "r$r" "$ready_timeout"
	done
	launch lb
	wait_ready lb 10
	cat <<EOF

cluster up, work dir $work
  load balancer  http://127.0.0.1:8080
  replicas       r1 http://127.0.0.1:8081   r2 http://127.0.0.1:8082   r3 http://127.0.0.1:8083
  folders        $work/r1  $work/r2  $work/r3
  NATS           $nats_urls
$(stream_summary)
try   curl -s http://127.0.0.1:8080/v3/items/count -d '{"collectionId":"products"}'
stop  sh docs/deploy/cluster.sh down
EOF
}

# stop_one NAME SIGNAL: send SIGNAL to NAME and wait until it exits (SIGKILL after stop_timeout).
stop_one() {
	p=$(pid "$1")
	if [ -z "$p" ]; then
		rm -f "$work/run/$1.pid"
		return 0
	fi
	kill "-$2" "$p" 2>/dev/null || true
	deadline=$(($(date +%s) + stop_timeout))
	while alive "$p"; do
		if [ "$(date +%s)" -ge "$deadline" ]; then
			echo "$1 (pid $p) did not exit $stop_timeout s after SIG$2; sending SIGKILL"
			kill -KILL "$p" 2>/dev/null || true
			deadline=$(($(date +%s) + 5))
		fi
		sleep 0.1
	done
	rm -f "$work/run/$1.pid"
	echo "$1 (pid $p) stopped with SIG$2"
}

down() {
	[ -d "$work/run" ] || {
		echo "nothing to stop: no $work/run"
		return 0
	}
	stop_one lb TERM
	for r in 9 8 7 6 5 4 3 2 1; do stop_one "r$r" TERM; done
	for n in 3 2 1; do stop_one "n$n" TERM; done
	echo "everything stopped; the data stays in $work (sh docs/deploy/cluster.sh clean deletes it)"
}

status() {
	echo "work dir $work"
	printf '%-4s %-8s %-10s %-26s %s\n' NAME PID STATE ADDRESS DETAIL
	for name in n1 n2 n3 r1 r2 r3 r4 r5 r6 r7 r8 r9 lb; do
		case $name in r[4-9]) [ -d "$work/$name" ] || continue ;; esac
		p=$(pid "$name")
		case $name in
		n*) addr=nats://127.0.0.1:$((4221 + $(num $name))) detail="monitoring $(url $name)" ;;
		r*) addr=$(url $name) detail="folder $work/$name" ;;
		lb) addr=$(url lb) detail="round robin over the replicas' GET /readyz" ;;
		esac
		if [ -z "$p" ]; then
			state=stopped
		else
			case $name in n*) path=/healthz ;; *) path=/readyz ;; esac
			if curl -fsS -o /dev/null --max-time 2 "$(url $name)$path" 2>/dev/null; then
				state=ready
			else
				state="not-ready"
			fi
		fi
		printf '%-4s %-8s %-10s %-26s %s\n' "$name" "${p:--}" "$state" "$addr" "$detail"
	done
	echo "JetStream meta leader: $(meta_leader | grep . || echo 'none (no NATS server answers)')"
	stream_summary
}

clean() {
	[ -d "$work" ] || {
		echo "nothing to delete: no $work"
		return 0
	}
	[ -f "$work/.cluster.sh" ] || die "$work was not made by cluster.sh; not deleting it"
	for name in n1 n2 n3 r1 r2 r3 r4 r5 r6 r7 r8 r9 lb; do
		[ -z "$(pid $name)" ] || die "$name still runs: sh docs/deploy/cluster.sh down first"
	done
	rm -rf "$work"
	echo "deleted $work"
}

[ $# -ge 1 ] || usage
cmd=$1
shift
case $cmd in
up | down | status | clean)
	[ $# -eq 0 ] || usage
	$cmd
	;;
kill | stop | start | restart | logs)
	[ $# -eq 1 ] || usage
	check_name "$1"
	case $cmd in
	kill)
		[ -n "$(pid "$1")" ] || die "$1 does not run"
		stop_one "$1" KILL
		;;
	stop)
		[ -n "$(pid "$1")" ] || echo "$1 does not run"
		stop_one "$1" TERM
		;;
	start | restart)
		[ "$cmd" = start ] || stop_one "$1" TERM
		need_tools
		launch "$1"
		case $1 in
		n*) wait_ready "$1" "$nats_timeout" ;;
		r*) wait_ready "$1" "$ready_timeout" ;;
		lb) wait_ready lb 10 ;;
		esac
		echo "$1 ready at $(url "$1")"
		;;
	logs) tail -n "${LINES:-40}" "$work/log/$1.log" ;;
	esac
	;;
*) usage ;;
esac
