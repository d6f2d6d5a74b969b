#!/usr/bin/env bash
# Captures golden request frames from two independent real Kafka clients, kcat (librdkafka 2.0.2)
# and kafka-python 2.0.2, by running them against tools/Fjord.Capture (a fake broker on 127.0.0.1
# that answers with Fjord's own codec and writes every request frame to a file), then keeps a
# deduplicated selection under Golden/kcat/ and Golden/kafka-python/:
#   <Api>-v<version>.bin               one per API and version (the first one sent)
#   Produce-v<version>-<variant>.bin   one per produce run (codec none|gzip|snappy|lz4|zstd, idempotent)
#   Metadata-v<version>-<all|none|topics>.bin, JoinGroup-v<version>-<new|rejoin>.bin  one per request kind
# Each .bin is one request frame without its 4-byte size prefix. GoldenVectorTests.cs checks them;
# the records it expects there are the ones produced below (keep the two in step).
#
# usage: capture.sh [--raw <dir>]    (--raw keeps every captured frame and log in <dir>)
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../../.." && pwd)"
python=/usr/bin/python3          # Debian's python3-kafka is visible only to this interpreter
topic=golden
group=somegroup

raw=""
if [ "${1:-}" = "--raw" ]; then raw="$2"; mkdir -p "$raw"; fi
work="$(mktemp -d)"
[ -n "$raw" ] || raw="$work/raw"

server_pid=""
cleanup() {
  if [ -n "$server_pid" ] && kill -0 "$server_pid" 2>/dev/null; then kill "$server_pid" 2>/dev/null || true; fi
  rm -rf "$work"
}
trap cleanup EXIT

# --- prerequisites ------------------------------------------------------------------------------
need=()
command -v kcat >/dev/null || need+=(kcat)
"$python" -c 'import kafka' 2>/dev/null || need+=(python3-kafka)
"$python" -c 'import snappy' 2>/dev/null || need+=(python3-snappy)
"$python" -c 'import lz4.frame' 2>/dev/null || need+=(python3-lz4)
"$python" -c 'import zstandard' 2>/dev/null || need+=(python3-zstandard)
if [ ${#need[@]} -gt 0 ]; then
  echo "capture: installing ${need[*]}"
  sudo_cmd=""; [ "$(id -u)" -ne 0 ] && sudo_cmd="sudo"
  timeout 600 $sudo_cmd apt-get update -qq
  DEBIAN_FRONTEND=noninteractive timeout 600 $sudo_cmd apt-get install -y -qq "${need[@]}" >/dev/null
fi

echo "capture: building tools/Fjord.Capture"
timeout 600 dotnet build "$root/tools/Fjord.Capture/Fjord.Capture.csproj" -c Release -nologo -v quiet -clp:ErrorsOnly >/dev/null \
  || { echo "capture: the build failed"; timeout 600 dotnet build "$root/tools/Fjord.Capture/Fjord.Capture.csproj" -c Release -nologo -v quiet -clp:ErrorsOnly; exit 1; }
dll="$root/tools/Fjord.Capture/bin/Release/net10.0/Fjord.Capture.dll"

# --- the data every producer sends (GoldenVectorTests.ExpectedRecords mirrors it) -----------------
value_of() { printf 'value-%s ' "$1"; for _ in 1 2 3 4 5 6 7 8 9 10; do printf 'fjord-golden-'; done; }
produce_lines() { for i in 1 2 3; do printf 'key-%s:%s\n' "$i" "$(value_of "$i")"; done; }

# --- one client run against a fresh capture server ------------------------------------------------
# run <client> <label> <seconds> <function>: starts the capture server on a free port (it binds
# port 0 and prints the one it got; it stops itself <seconds>+30 s later in any case), runs
# <function> with $broker set (every client inside is bounded by `timeout`), then stops the server
# by its PID. A client that fails, or a frame our codec cannot decode or re-encode, is a failure.
failures=0
run() {
  local client="$1" label="$2" seconds="$3" fn="$4"
  local out="$raw/$client/$label"
  rm -rf "$out"; mkdir -p "$out"; : >"$out.server.log"
  dotnet "$dll" --port 0 --out "$out" --label "$label" --timeout $((seconds + 30)) --topics "$topic" >"$out.server.log" 2>&1 &
  server_pid=$!
  local port=""
  for _ in $(seq 1 150); do
    port="$(sed -n 's/^LISTENING 127\.0\.0\.1:\([0-9]*\)$/\1/p' "$out.server.log" 2>/dev/null | head -n1 || true)"
    [ -n "$port" ] && break
    kill -0 "$server_pid" 2>/dev/null || break
    sleep 0.2
  done
  if [ -z "$port" ]; then
    echo "capture: $client/$label: the capture server did not start"; cat "$out.server.log"; failures=$((failures + 1)); return
  fi
  broker="127.0.0.1:$port"
  local rc=0
  ( "$fn" ) >"$out.client.log" 2>&1 || rc=$?
  kill -TERM "$server_pid" 2>/dev/null || true
  for _ in $(seq 1 50); do kill -0 "$server_pid" 2>/dev/null || break; sleep 0.2; done
  kill -0 "$server_pid" 2>/dev/null && kill -KILL "$server_pid" 2>/dev/null
  local server_rc=0; wait "$server_pid" || server_rc=$?
  server_pid=""
  local n; n="$(find "$out" -name '*.bin' | wc -l)"
  echo "capture: $client/$label: $n frames (client exit $rc, server exit $server_rc)"
  if [ "$rc" -ne 0 ]; then
    echo "capture: $client/$label: the client failed:"; tail -n 20 "$out.client.log"
    failures=$((failures + 1))
  fi
  if [ "$server_rc" -ne 0 ]; then
    echo "capture: $client/$label: the codec reported problems:"; grep PROBLEM "$out.server.log" | sort -u || true
    failures=$((failures + 1))
  fi
}

# --- kcat (librdkafka 2.0.2) ---------------------------------------------------------------------
kcat_list() { timeout -k 5 20 kcat -u -b "$broker" -L; }
kcat_produce() { # $codec
  produce_lines | timeout -k 5 20 kcat -u -b "$broker" -P -t "$topic" -K: -H hdr-a=A -H hdr-b=B \
    -z "$codec" -X linger.ms=200 -X client.id=fjord-golden "$@"
}
kcat_produce_none() { codec=none kcat_produce; }
kcat_produce_gzip() { codec=gzip kcat_produce; }
kcat_produce_snappy() { codec=snappy kcat_produce; }
kcat_produce_lz4() { codec=lz4 kcat_produce; }
kcat_produce_zstd() { codec=zstd kcat_produce; }
kcat_produce_idempotent() { codec=none kcat_produce -X enable.idempotence=true; }
kcat_consume() { timeout -k 5 20 kcat -u -b "$broker" -C -t "$topic" -c 1 -e -o beginning; }
kcat_group() { # a balanced consumer: join, sync, fetch, heartbeat, commit; SIGINT makes it leave the group
  timeout -s INT -k 5 8 kcat -u -b "$broker" -G "$group" -o beginning \
    -X heartbeat.interval.ms=500 -X auto.commit.interval.ms=500 "$topic" || true
}

# --- kafka-python 2.0.2 --------------------------------------------------------------------------
py() { timeout -k 5 "$1" "$python" - "$broker" "${@:2}"; }
python_admin() {
  py 30 <<'EOF'
import sys
from kafka.admin import KafkaAdminClient, NewTopic
admin = KafkaAdminClient(bootstrap_servers=sys.argv[1], client_id="fjord-golden", request_timeout_ms=10000)
response = admin.create_topics([NewTopic("golden-created", num_partitions=3, replication_factor=1,
                                         topic_configs={"retention.ms": "60000"})], timeout_ms=5000)
print(response)
assert all(error == 0 for _, error, *rest in response.topic_errors), response
admin.close()
EOF
}
python_produce() { # $1 = codec
  py 30 "$1" <<'EOF'
import sys
from kafka import KafkaProducer
codec = None if sys.argv[2] == "none" else sys.argv[2]
producer = KafkaProducer(bootstrap_servers=sys.argv[1], client_id="fjord-golden", compression_type=codec,
                         linger_ms=200, acks=1)
sent = []
for i in (1, 2, 3):
    value = ("value-%d " % i) + "fjord-golden-" * 10
    sent.append(producer.send("golden", key=("key-%d" % i).encode(), value=value.encode(),
                              headers=[("hdr-a", b"A"), ("hdr-b", b"B")]))
producer.flush(timeout=10)
for future in sent:
    print(future.get(timeout=10))   # raises if the broker's answer was an error or unreadable
producer.close(timeout=5)
EOF
}
python_produce_none() { python_produce none; }
python_produce_gzip() { python_produce gzip; }
python_produce_snappy() { python_produce snappy; }
python_produce_lz4() { python_produce lz4; }
python_produce_zstd() { python_produce zstd; }
python_consume() {
  py 30 <<'EOF'
import sys
from kafka import KafkaConsumer
consumer = KafkaConsumer("golden", bootstrap_servers=sys.argv[1], client_id="fjord-golden",
                         auto_offset_reset="earliest", consumer_timeout_ms=3000)
for message in consumer:
    print(message.offset, message.key, message.value, message.headers)
    break
consumer.close()
EOF
}
python_group() {
  py 40 <<'EOF'
import sys, time
from kafka import KafkaConsumer
consumer = KafkaConsumer("golden", bootstrap_servers=sys.argv[1], client_id="fjord-golden", group_id="somegroup",
                         auto_offset_reset="earliest", heartbeat_interval_ms=500, auto_commit_interval_ms=500)
deadline = time.time() + 8
while time.time() < deadline:
    for tp, messages in consumer.poll(timeout_ms=500).items():
        for m in messages:
            print(tp, m.offset, m.key, m.value, m.headers)
consumer.commit()
consumer.close()
EOF
}

run kcat list 20 kcat_list
for v in none gzip snappy lz4 zstd idempotent; do run kcat "produce-$v" 20 "kcat_produce_$v"; done
run kcat consume 20 kcat_consume
run kcat group 15 kcat_group
run kafka-python admin 30 python_admin
for v in none gzip snappy lz4 zstd; do run kafka-python "produce-$v" 30 "python_produce_$v"; done
run kafka-python consume 30 python_consume
run kafka-python group 40 python_group

# --- keep a deduplicated selection -----------------------------------------------------------------
# Runs are visited in the order above and frames in arrival order. Kept: the first frame of each API
# and version; Produce once per run (codec); Metadata once per request kind (all topics / no topics /
# named topics); JoinGroup once for a new member (empty member id) and once for a rejoin.
"$python" - "$raw" "$here" <<'EOF'
import os, re, struct, sys
raw, golden = sys.argv[1], sys.argv[2]
order = ["list", "produce-none", "produce-gzip", "produce-snappy", "produce-lz4", "produce-zstd",
         "produce-idempotent", "admin", "consume", "group"]
name = re.compile(r"^(?P<label>.+)-(?P<api>[A-Za-z0-9]+)-v(?P<version>\d+)-(?P<seq>\d+)\.bin$")
FLEXIBLE_FROM = {"Metadata": 9, "JoinGroup": 6}

def uvarint(b, i):
    value, shift = 0, 0
    while True:
        byte = b[i]; i += 1
        value |= (byte & 0x7F) << shift
        if byte < 0x80: return value, i
        shift += 7

def body_start(b, flexible):
    (n,) = struct.unpack_from(">h", b, 8)        # client id: classic nullable string in every header version
    i = 10 + max(n, 0)
    if flexible:                                 # request header v2: tagged fields
        count, i = uvarint(b, i)
        for _ in range(count):
            _, i = uvarint(b, i); size, i = uvarint(b, i); i += size
    return i

def string(b, i, flexible):
    if flexible:
        n, i = uvarint(b, i); n -= 1
    else:
        (n,) = struct.unpack_from(">h", b, i); i += 2
    return (None if n < 0 else b[i:i + n].decode()), i + max(n, 0)

def variant(api, version, b):
    flexible = version >= FLEXIBLE_FROM.get(api, 99)
    i = body_start(b, flexible)
    if api == "Metadata":
        if flexible:
            n, _ = uvarint(b, i); n -= 1
        else:
            (n,) = struct.unpack_from(">i", b, i)
        return "all" if n < 0 or (n == 0 and version == 0) else "none" if n == 0 else "topics"
    if api == "JoinGroup":
        _, i = string(b, i, flexible)            # GroupId
        i += 4 if version == 0 else 8            # SessionTimeoutMs, RebalanceTimeoutMs (v1+)
        member, _ = string(b, i, flexible)
        return "new" if not member else "rejoin"
    return None

for client in ("kcat", "kafka-python"):
    target = os.path.join(golden, client)
    os.makedirs(target, exist_ok=True)
    for old in os.listdir(target):
        if old.endswith(".bin"):
            os.remove(os.path.join(target, old))
    kept = {}
    for label in order:
        folder = os.path.join(raw, client, label)
        if not os.path.isdir(folder):
            continue
        frames = sorted((m for m in map(name.match, os.listdir(folder)) if m), key=lambda m: int(m["seq"]))
        for m in frames:
            api, version = m["api"], int(m["version"])
            with open(os.path.join(folder, m.string), "rb") as f:
                frame = f.read()
            kind = label[len("produce-"):] if api == "Produce" else variant(api, version, frame)
            key = (api, version, kind)
            if key not in kept:
                kept[key] = "%s-v%d%s.bin" % (api, version, "" if kind is None else "-" + kind)
                with open(os.path.join(target, kept[key]), "wb") as f:
                    f.write(frame)
    print("capture: kept %d %s vectors: %s" % (len(kept), client, " ".join(sorted(kept.values()))))
EOF

if [ "$failures" -ne 0 ]; then
  echo "capture: $failures run(s) had problems (see above)"
  exit 1
fi
echo "capture: done"
