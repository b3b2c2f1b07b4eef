#!/usr/bin/env bash
# Runs Go tests against a real S3-compatible server: versitygw with its posix backend, listening
# on a free 127.0.0.1 port, storing into a temporary folder, with fixed test credentials.
#
#   scripts/s3test.sh                      # go test ./internal/blob/...
#   scripts/s3test.sh -run Conformance -v  # extra arguments go to go test
#   SLUICE_S3TEST_PKGS="./internal/blob/... ./internal/jobs/..." scripts/s3test.sh
#
# The gateway binary is installed once into $SLUICE_CACHE_DIR (default ~/.cache/sluice), which
# takes about 1.5 minutes cold. The tests read the server from SLUICE_TEST_S3, formatted
# http://ACCESS_KEY:SECRET_KEY@127.0.0.1:PORT. The server is stopped and its data removed on exit.
set -euo pipefail

VERSITYGW_VERSION=v1.8.0
ACCESS_KEY=sluicetest
SECRET_KEY=sluicetest-secret-key

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cache=${SLUICE_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/sluice}
bindir=$cache/versitygw-$VERSITYGW_VERSION
gw=$bindir/versitygw
read -r -a pkgs <<<"${SLUICE_S3TEST_PKGS:-./internal/blob/...}"

log() { echo "s3test: $*" >&2; }

if [[ ! -x $gw ]]; then
	log "installing versitygw $VERSITYGW_VERSION into $bindir (about 1.5 minutes the first time)"
	mkdir -p "$bindir"
	# Install from outside the repository so its go.mod is neither read nor changed.
	(cd / && GOBIN=$bindir CGO_ENABLED=0 go install "github.com/versity/versitygw/cmd/versitygw@$VERSITYGW_VERSION")
fi

work=$(mktemp -d "${TMPDIR:-/tmp}/sluice-s3test.XXXXXX")
pid=""
cleanup() {
	if [[ -n $pid ]] && kill -0 "$pid" 2>/dev/null; then
		kill "$pid" 2>/dev/null || true
		wait "$pid" 2>/dev/null || true
	fi
	rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# free_port asks the kernel for an unused port; another process could take it before the gateway
# binds it, which the start loop below handles by trying again.
free_port() {
	if command -v python3 >/dev/null 2>&1; then
		python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
	else
		echo $((20000 + RANDOM % 30000))
	fi
}

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

started=""
for attempt in 1 2 3 4 5; do
	port=$(free_port)
	mkdir -p "$work/data"
	"$gw" --access "$ACCESS_KEY" --secret "$SECRET_KEY" --port "127.0.0.1:$port" --quiet \
		posix "$work/data" >"$work/versitygw.log" 2>&1 &
	pid=$!
	for _ in $(seq 1 100); do # up to 10 s
		if port_open "$port"; then
			started=yes
			break
		fi
		if ! kill -0 "$pid" 2>/dev/null; then
			break
		fi
		sleep 0.1
	done
	if [[ -n $started ]] && kill -0 "$pid" 2>/dev/null; then
		break
	fi
	started=""
	log "versitygw did not start on port $port (attempt $attempt):"
	sed 's/^/    /' "$work/versitygw.log" >&2 || true
	kill "$pid" 2>/dev/null || true
	wait "$pid" 2>/dev/null || true
	pid=""
done
if [[ -z $started ]]; then
	log "giving up: versitygw would not start"
	exit 1
fi
log "versitygw $VERSITYGW_VERSION listening on 127.0.0.1:$port (pid $pid, data in $work/data)"

export SLUICE_TEST_S3="http://$ACCESS_KEY:$SECRET_KEY@127.0.0.1:$port"
cd "$repo"
status=0
go test -count=1 "$@" "${pkgs[@]}" || status=$?
if [[ $status -ne 0 ]]; then
	log "tests failed; gateway log:"
	tail -n 50 "$work/versitygw.log" | sed 's/^/    /' >&2 || true
fi
exit "$status"
