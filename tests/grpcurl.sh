#!/usr/bin/env bash
# Runs the README's grpcurl examples, exactly as written but for the address,
# against the built binary, through server reflection only (no .proto files),
# and checks what each one printed: first in plaintext, with an admin key made
# by `newsdesk keys create`, then again over TLS on a fresh database, with a
# throwaway CA and server certificate made here (`-plaintext` becomes
# `-cacert`). Then checks reflection v1 (with buf curl), keys revoked from the
# command line, a restart on the same database, a graceful shutdown on
# SIGTERM, client-certificate verification (`--tls-client-ca`), the metrics
# listener, request ids, and `--reflection=false`.
#
# Needs: grpcurl, jq, openssl, python3, and curl (or python3 alone) for the
# metrics; buf for the reflection v1 check. Uses $NEWSDESK_BIN, or the debug
# build in the cargo target directory, building it if missing (so after
# changing the code, run `cargo build` or `cargo test` first).
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
bin=${NEWSDESK_BIN:-${CARGO_TARGET_DIR:-$root/target}/debug/newsdesk}
if [ ! -x "$bin" ]; then
  cargo build --manifest-path "$root/Cargo.toml" --bin newsdesk
fi

work=$(mktemp -d)
server_pid=""
cleanup() {
  if [ -n "$server_pid" ]; then kill "$server_pid" 2>/dev/null || true; fi
  rm -rf "$work"
}
trap cleanup EXIT

fail() {
  echo "grpcurl.sh: FAIL: $*" >&2
  if [ -f "$work/server.log" ]; then
    echo "--- server log ---" >&2
    cat "$work/server.log" >&2
  fi
  exit 1
}
pass() { echo "grpcurl.sh: ok: $*"; }

plain_database="sqlite://$work/newsdesk.db?mode=rwc"
tls_database="sqlite://$work/newsdesk-tls.db?mode=rwc"
database=$plain_database

# Starts the server on a free port, with any extra options given, and waits
# for its "listening on" line, which gives the address.
start_server() {
  : > "$work/server.log"
  RUST_LOG=info "$bin" serve --listen 127.0.0.1:0 --database-url "$database" --shutdown-grace 5s "$@" \
    2>> "$work/server.log" &
  server_pid=$!
  addr=""
  for _ in $(seq 1 200); do
    addr=$(sed -n 's/.*newsdesk listening on \([0-9.]*:[0-9]*\) .*/\1/p' "$work/server.log")
    if [ -n "$addr" ]; then return 0; fi
    kill -0 "$server_pid" 2>/dev/null || fail "the server exited during start-up"
    sleep 0.05
  done
  fail "the server did not log its address within 10 s"
}

# Stops the server with SIGTERM and checks that it exits cleanly.
stop_server() {
  kill -TERM "$server_pid"
  local status=0
  wait "$server_pid" || status=$?
  server_pid=""
  [ "$status" -eq 0 ] || fail "the server exited with status $status after SIGTERM"
  grep -q "newsdesk stopped" "$work/server.log" || fail "no 'newsdesk stopped' line after SIGTERM"
}

# Makes an admin key with the command line, straight in $database, and
# exports its token as TOKEN, as the README tells an operator to.
create_admin_key() {
  local token
  token=$("$bin" keys --database-url "$database" create --name ops --role admin 2> "$work/keys.log") \
    || fail "newsdesk keys create failed: $(cat "$work/keys.log")"
  [[ "$token" =~ ^nd_[A-Za-z0-9_-]+$ ]] \
    || fail "newsdesk keys create printed more than a token on stdout: '$token'"
  grep -q "created the admin key \`ops\`" "$work/keys.log" \
    || fail "newsdesk keys create said nothing on stderr: $(cat "$work/keys.log")"
  export TOKEN=$token
  pass "newsdesk keys create printed an admin token, and only that, on stdout"
}

# Runs a grpcurl call that must fail with `code`, and checks that it did.
# (A bad token sent with -H also goes to reflection, which refuses it before
# the call is made: grpcurl then prints "code = ..." instead of "Code: ...".
# The checks below send such tokens with -rpc-header, to the call alone.)
expect_code() {
  local code=$1 description=$2 output
  shift 2
  if output=$("$@" 2>&1); then fail "$description: the call succeeded: $output"; fi
  grep -q "Code: $code" <<< "$output" || fail "$description: not $code: $output"
  pass "$description"
}

# Each ```sh block between the README's grpcurl-examples markers is one example.
awk -v dir="$work" '
  /<!-- grpcurl-examples -->/ { inside = 1; next }
  /<!-- \/grpcurl-examples -->/ { inside = 0 }
  inside && /^```sh$/ { n++; block = 1; next }
  block && /^```$/ { block = 0; next }
  block { print > (dir "/example." n) }
  END { print n + 0 > (dir "/count") }
' "$root/README.md"
examples=$(cat "$work/count")
[ "$examples" -eq 17 ] || fail "expected 17 grpcurl examples in README.md, found $examples; update this script"

# How grpcurl reaches the server: `-plaintext`, or over TLS `-cacert` with the
# test CA. The examples are rewritten to match.
transport=(-plaintext)
g() { grpcurl "${transport[@]}" "$@"; }

# Runs example N in this shell (so the variables it sets stay set), with the
# README's address swapped for the test server's and, over TLS, `-plaintext`
# for `-cacert`; output goes to out.N.
run_example() {
  local n=$1
  sed -e "s/localhost:50051/$addr/g" -e "s|-plaintext|${transport[*]}|g" "$work/example.$n" > "$work/run.$n"
  set +e
  # shellcheck disable=SC1090
  source "$work/run.$n" > "$work/out.$n" 2>&1
  example_status=$?
  set -e
}
out() { cat "$work/out.$1"; }
expect() {
  local n=$1 filter=$2 description=$3
  jq -e "$filter" "$work/out.$n" > /dev/null 2>&1 || fail "example $n: $description; it printed: $(out "$n")"
  pass "example $n: $description"
}
# As expect, for an example that prints several responses: `filter` sees
# them as one array.
expect_all() {
  local n=$1 filter=$2 description=$3
  jq -e -s "$filter" "$work/out.$n" > /dev/null 2>&1 || fail "example $n: $description; it printed: $(out "$n")"
  pass "example $n: $description"
}
expect_success() {
  [ "$example_status" -eq 0 ] || fail "example $1 failed with status $example_status: $(out "$1")"
}

slug="مبعوث-الولايات-المتحدة-ويتكوف-يلتقي-بوتين-في-روسيا-لمحادثات-حرب-أوكرانيا"
title="مبعوث الولايات المتحدة ويتكوف يلتقي بوتين في روسيا لمحادثات حرب أوكرانيا"
uuid7='^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[0-9a-f]{4}-[0-9a-f]{12}$'

# Every example in order, with its checks, against a server on a fresh
# database with an admin key in TOKEN.
run_examples() {
  unset DESK_ID ARTICLE_ID PAGE_TOKEN FEED_KEY FEED_TOKEN FEED_KEY_ID

  # Who may do what, before any example: a reader without a key.
  expect_code Unauthenticated "no key: the change feed is UNAUTHENTICATED" \
    g -d '{}' "$addr" newsdesk.v1.EventService/ListEvents
  expect_code Unauthenticated "no key: the latest view is UNAUTHENTICATED" \
    g -d '{"view": "ARTICLE_VIEW_LATEST"}' "$addr" newsdesk.v1.ArticleService/ListArticles
  expect_code Unauthenticated "a token that is no key's is UNAUTHENTICATED" \
    g -rpc-header "authorization: Bearer nd_not-a-key" -d '{}' "$addr" newsdesk.v1.ArticleService/ListArticles

  run_example 1
  expect_success 1
  jq -e '.key.role == "ROLE_SUBSCRIBER" and .key.name == "search-indexer" and (.key.creator | startswith("keys/"))' \
    <<< "${FEED_KEY:-}" > /dev/null || fail "example 1: the new key reads wrong: ${FEED_KEY:-}"
  [[ "${FEED_TOKEN:-}" =~ ^nd_ ]] || fail "example 1: FEED_TOKEN is not a token: '${FEED_TOKEN:-}'"
  [[ "${FEED_KEY_ID:-}" =~ $uuid7 ]] || fail "example 1: FEED_KEY_ID is not a UUIDv7: '${FEED_KEY_ID:-}'"
  pass "example 1: the admin made a subscriber key, made by keys/<id>"
  g -H "authorization: Bearer $FEED_TOKEN" -d '{}' "$addr" newsdesk.v1.EventService/ListEvents > "$work/out.feed" 2>&1 \
    || fail "example 1: the subscriber cannot read the change feed: $(cat "$work/out.feed")"
  pass "example 1: the subscriber's token reads the change feed"
  expect_code PermissionDenied "example 1: the subscriber may not create authors (PERMISSION_DENIED)" \
    g -H "authorization: Bearer $FEED_TOKEN" -d '{"author": {"display_name": "x"}}' \
    "$addr" newsdesk.v1.AuthorService/CreateAuthor

  run_example 2
  expect_success 2
  expect 2 '[.keys[].name] == ["ops", "search-indexer"] and .keys[0].creator == "system/cli"' \
    "ListApiKeys shows both keys, oldest first, the first made by the command line"
  expect 2 '[.. | objects | has("token")] | any | not' "ListApiKeys never shows a token"

  run_example 3
  expect_success 3
  expect 3 ".key.id == \"$FEED_KEY_ID\" and (.key.revokeTime | length) > 0" "RevokeApiKey revokes the key"
  expect_code Unauthenticated "example 3: the revoked token is UNAUTHENTICATED at once" \
    g -rpc-header "authorization: Bearer $FEED_TOKEN" -d '{}' "$addr" newsdesk.v1.EventService/ListEvents

  run_example 4
  expect_success 4
  for service in newsdesk.v1.ArticleService newsdesk.v1.AuthorService newsdesk.v1.KeyService grpc.health.v1.Health; do
    grep -qx "$service" "$work/out.4" || fail "example 4: 'list' does not show $service: $(out 4)"
  done
  pass "example 4: list, without a key, shows the API, health and reflection"

  run_example 5
  expect_success 5
  [[ "${DESK_ID:-}" =~ $uuid7 ]] || fail "example 5: DESK_ID is not a UUIDv7: '${DESK_ID:-}'"
  # A reader may read authors.
  g -d "{\"id\": \"$DESK_ID\"}" "$addr" newsdesk.v1.AuthorService/GetAuthor > "$work/out.desk"
  jq -e '.displayName == "فريق التحرير" and .slug == "فريق-التحرير" and .kind == "AUTHOR_KIND_DESK"' \
    "$work/out.desk" > /dev/null || fail "example 5: the desk reads back wrong: $(cat "$work/out.desk")"
  pass "example 5: the desk «فريق التحرير» exists with slug فريق-التحرير (read without a key)"

  run_example 6
  expect_success 6
  expect 6 ".slug == \"$slug\" and .title == \"$title\" and .language == \"ar\"" "the article has the derived Arabic slug"
  expect 6 ".authorIds == [\"$DESK_ID\"] and .status == \"ARTICLE_STATUS_DRAFT\" and .wordCount > 20" \
    "the article credits the desk, is a draft, and counts its words"
  first_id=$(jq -r .id "$work/out.6")
  cp "$work/out.6" "$work/out.6.first"
  run_example 6
  expect_success 6
  [ "$(jq -r .id "$work/out.6")" = "$first_id" ] || fail "example 6: a retry with the same request_id made a second article"
  pass "example 6: running it again returns the same article (request_id)"

  run_example 7
  expect_success 7
  expect 7 '.title == "إصلاح العلاقات" and .slug == "إصلاح-العلاقات"' "the second story has its own slug"
  second_id=$(jq -r .id "$work/out.7")

  run_example 8
  expect_success 8
  expect 8 ".id == \"$first_id\" and .title == \"$title\"" "GetArticle by slug finds the first article"
  jq -e --slurpfile created "$work/out.6.first" '.body == $created[0].body' "$work/out.8" > /dev/null \
    || fail "example 8: the body does not read back as written"
  pass "example 8: the Arabic body reads back as written"
  expect_code NotFound "example 8: without a key, the draft does not exist (published view)" \
    g -d "{\"slug\": \"$slug\", \"language\": \"ar\"}" "$addr" newsdesk.v1.ArticleService/GetArticle

  run_example 9
  expect_success 9
  [ -n "${PAGE_TOKEN:-}" ] && [ "$PAGE_TOKEN" != "null" ] || fail "example 9: page 1 gave no nextPageToken"
  expect 9 "(.articles | length) == 1 and .articles[0].id == \"$first_id\" and (has(\"nextPageToken\") | not)" \
    "page 2 holds the older article and is the last page"
  page1=$(g -H "authorization: Bearer $TOKEN" -d '{"page_size": 1}' "$addr" newsdesk.v1.ArticleService/ListArticles \
    | jq -r '.articles[0].id')
  [ "$page1" = "$second_id" ] || fail "example 9: page 1 should hold the newest article"
  pass "example 9: page 1 holds the newest article"

  run_example 10
  expect_success 10
  expect 10 ".id == \"$first_id\" and .subtitle == \"محادثات استمرت أكثر من أربع ساعات\"" "the mask changed the subtitle"
  expect 10 ".title == \"$title\" and .slug == \"$slug\" and .authorIds == [\"$DESK_ID\"]" "the mask left every other field alone"

  run_example 11
  [ "$example_status" -ne 0 ] || fail "example 11: an empty title was accepted"
  grep -q "Code: InvalidArgument" "$work/out.11" || fail "example 11: not INVALID_ARGUMENT: $(out 11)"
  grep -q '"field":"article.title"' "$work/out.11" || fail "example 11: the BadRequest does not name article.title: $(out 11)"
  pass "example 11: an empty title is INVALID_ARGUMENT naming article.title"

  run_example 12
  expect_success 12
  expect 12 ".id == \"$first_id\" and .status == \"ARTICLE_STATUS_PUBLISHED\" and (.publishTime | length) > 0" \
    "PublishArticle makes the article live"

  run_example 13
  expect_success 13
  expect_all 13 ".[0].hasUnpublishedChanges == true and .[0].title == \"ويتكوف وبوتين يبحثان الحرب في أوكرانيا\"" \
    "an edit to the live story waits in the working copy"
  expect_all 13 ".[1].title == \"$title\" and .[1].status == \"ARTICLE_STATUS_PUBLISHED\"" \
    "a reader without a key still sees what was published"

  run_example 14
  expect_success 14
  expect_all 14 '[.[0].revisions[].action] == ["REVISION_ACTION_UPDATED", "REVISION_ACTION_PUBLISHED", "REVISION_ACTION_UPDATED", "REVISION_ACTION_CREATED"]' \
    "the history lists every change, newest first"
  expect_all 14 "(.[1].events | length) == 1 and .[1].events[0].type == \"article.published\" and .[1].events[0].articleId == \"$first_id\"" \
    "the change feed announced the publication once"
  expect_all 14 '([.[0].revisions[].actor] | unique | length) == 1 and (.[0].revisions[0].actor | startswith("keys/")) and .[1].events[0].actor == .[0].revisions[0].actor' \
    "every revision and the event name the admin key as their actor"

  run_example 15
  expect_success 15
  expect_all 15 '.[0].status == "COMMENT_STATUS_APPROVED" and .[0].bodyHtml == "<p>شكرا على التغطية.<br>هل من جديد؟</p>" and (.[0] | has("authorEmail") | not)' \
    "the comment is approved and rendered as safe HTML"
  expect_all 15 "(.[1].comments | length) == 1 and .[1].comments[0].authorName == \"قارئ من عمّان\"" \
    "the thread lists it"

  run_example 16
  expect_success 16
  expect_all 16 '.[0].counted == true and (.[1] | has("counted") | not)' "a repeat from the same browser does not count"
  expect_all 16 '.[2].total == "1" and .[2].byChannel[0].channel == "SHARE_CHANNEL_WHATSAPP"' "the stats count one WhatsApp share"

  run_example 17
  expect_success 17
  expect 17 '.status == "SERVING"' "health is SERVING"
}

### Plaintext.

start_server
grep -q "newsdesk listening on $addr (plaintext) with the sqlite database sqlite://" "$work/server.log" \
  || fail "the start-up line does not say plaintext and name the database"
pass "server listening on $addr in plaintext"
# With the server running, as an operator would.
create_admin_key
run_examples
pass "all $examples README examples passed in plaintext"

if command -v buf > /dev/null; then
  buf curl --protocol grpc --http2-prior-knowledge --reflect-protocol grpc-v1 --list-services "http://$addr" \
    > "$work/out.v1" 2>&1 || fail "buf curl over reflection v1 failed: $(cat "$work/out.v1")"
  grep -qx "newsdesk.v1.ArticleService" "$work/out.v1" || fail "reflection v1 does not list the API: $(cat "$work/out.v1")"
  pass "reflection v1 lists the API (buf curl)"
else
  echo "grpcurl.sh: note: buf not installed; reflection v1 not checked (grpcurl 1.8 uses v1alpha)"
fi

# `newsdesk keys revoke` stops a key from outside the server, within the
# second a server trusts a key it has looked up.
"$bin" keys --database-url "$database" create --name temporary --role editor > "$work/temporary.token" 2> "$work/keys.log" \
  || fail "newsdesk keys create --role editor failed: $(cat "$work/keys.log")"
temporary_id=$(sed -n 's/.*created the editor key `temporary` (\([0-9a-f-]*\)).*/\1/p' "$work/keys.log")
[ -n "$temporary_id" ] || fail "newsdesk keys create did not name the key's id: $(cat "$work/keys.log")"
grpcurl -plaintext -H "authorization: Bearer $(cat "$work/temporary.token")" -d '{}' "$addr" \
  newsdesk.v1.AuthorService/ListAuthors > /dev/null || fail "the editor key from the command line does not work"
"$bin" keys --database-url "$database" revoke "$temporary_id" 2> "$work/keys.log" \
  || fail "newsdesk keys revoke failed: $(cat "$work/keys.log")"
sleep 1.2
expect_code Unauthenticated "newsdesk keys revoke: the revoked token is UNAUTHENTICATED" \
  grpcurl -plaintext -rpc-header "authorization: Bearer $(cat "$work/temporary.token")" -d '{}' "$addr" \
  newsdesk.v1.AuthorService/ListAuthors

stop_server
pass "SIGTERM: graceful shutdown, exit status 0"

# What was acknowledged survives a restart, and start-up migrations are idempotent.
start_server
count=$(grpcurl -plaintext -H "authorization: Bearer $TOKEN" -d '{}' "$addr" newsdesk.v1.ArticleService/ListArticles \
  | jq '.articles | length')
[ "$count" -eq 2 ] || fail "after a restart, ListArticles shows the newsroom $count articles instead of 2"
count=$(grpcurl -plaintext -d '{}' "$addr" newsdesk.v1.ArticleService/ListArticles | jq '.articles | length')
[ "$count" -eq 1 ] || fail "after a restart, ListArticles shows readers $count articles instead of the 1 published"
pass "restart on the same database: both articles and the key are there; readers see the published one"
stop_server

### TLS: a throwaway CA, a server certificate for 127.0.0.1 and localhost,
### and a client certificate, all made here.

cat > "$work/openssl.cnf" << 'EOF'
[req]
distinguished_name = dn
prompt = no
[dn]
CN = newsdesk
[ca]
basicConstraints = critical, CA:TRUE
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash
[server]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = serverAuth
subjectAltName = IP:127.0.0.1, DNS:localhost
authorityKeyIdentifier = keyid
[client]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = clientAuth
authorityKeyIdentifier = keyid
EOF
# Makes NAME.key and NAME.pem, signed by the CA with the extensions of NAME.
issue() {
  local name=$1 subject=$2 serial=$3
  openssl req -new -config "$work/openssl.cnf" -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
    -keyout "$work/$name.key" -out "$work/$name.csr" -subj "$subject" 2>> "$work/openssl.log" \
    || fail "openssl could not make the $name key: $(cat "$work/openssl.log")"
  openssl x509 -req -in "$work/$name.csr" -CA "$work/ca.pem" -CAkey "$work/ca.key" -set_serial "$serial" \
    -days 1 -extfile "$work/openssl.cnf" -extensions "$name" -out "$work/$name.pem" 2>> "$work/openssl.log" \
    || fail "openssl could not sign the $name certificate: $(cat "$work/openssl.log")"
}
openssl req -x509 -config "$work/openssl.cnf" -extensions ca -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
  -keyout "$work/ca.key" -out "$work/ca.pem" -days 1 -subj "/CN=newsdesk grpcurl.sh test CA" 2>> "$work/openssl.log" \
  || fail "openssl could not make the CA: $(cat "$work/openssl.log")"
issue server "/CN=localhost" 2
issue client "/CN=grpcurl.sh" 3
pass "a test CA, a server certificate for 127.0.0.1 and localhost, and a client certificate"

# The same examples and checks over TLS, on a fresh database.
database=$tls_database
start_server --tls-cert "$work/server.pem" --tls-key "$work/server.key"
grep -q "newsdesk listening on $addr (TLS)" "$work/server.log" || fail "the start-up line does not say TLS"
pass "server listening on $addr over TLS"
create_admin_key
if grpcurl -plaintext -connect-timeout 3 "$addr" grpc.health.v1.Health/Check > "$work/out.plain" 2>&1; then
  fail "a plaintext call to the TLS server succeeded: $(cat "$work/out.plain")"
fi
pass "the TLS server refuses plaintext"
transport=(-cacert "$work/ca.pem")
run_examples
pass "all $examples README examples passed over TLS (-cacert)"
stop_server

# Client certificates: with --tls-client-ca, only a client with a certificate
# the CA signed gets in.
start_server --tls-cert "$work/server.pem" --tls-key "$work/server.key" --tls-client-ca "$work/ca.pem"
if grpcurl -cacert "$work/ca.pem" -connect-timeout 3 "$addr" grpc.health.v1.Health/Check > "$work/out.nocert" 2>&1; then
  fail "--tls-client-ca: a call without a client certificate succeeded: $(cat "$work/out.nocert")"
fi
pass "--tls-client-ca: a call without a client certificate is refused"
grpcurl -cacert "$work/ca.pem" -cert "$work/client.pem" -key "$work/client.key" "$addr" grpc.health.v1.Health/Check \
  > "$work/out.cert" 2>&1 || fail "--tls-client-ca: a call with a client certificate failed: $(cat "$work/out.cert")"
jq -e '.status == "SERVING"' "$work/out.cert" > /dev/null || fail "--tls-client-ca: health is not SERVING: $(cat "$work/out.cert")"
pass "--tls-client-ca: a call with a client certificate the CA signed gets in"
stop_server
transport=(-plaintext)

### Metrics, request ids, and reflection switched off (plaintext again).

database=$plain_database
metrics_port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()')
start_server --metrics-listen "127.0.0.1:$metrics_port" --reflection=false

if grpcurl -plaintext "$addr" list > "$work/out.list" 2>&1; then
  fail "--reflection=false: grpcurl list still works: $(cat "$work/out.list")"
fi
pass "--reflection=false: grpcurl list fails"
# Without reflection, clients bring the .proto files.
grpcurl -plaintext -import-path "$root/proto" -proto newsdesk/v1/author_service.proto -d '{}' "$addr" \
  newsdesk.v1.AuthorService/ListAuthors > "$work/out.proto" 2>&1 \
  || fail "--reflection=false: a call with the .proto files failed: $(cat "$work/out.proto")"
jq -e '.authors[0].displayName == "فريق التحرير"' "$work/out.proto" > /dev/null \
  || fail "--reflection=false: ListAuthors with the .proto files printed: $(cat "$work/out.proto")"
pass "--reflection=false: a client with the .proto files is served"

grpcurl -plaintext -v -H "x-request-id: grpcurl-sh-0001" -import-path "$root/proto" \
  -proto newsdesk/v1/author_service.proto -d '{}' "$addr" newsdesk.v1.AuthorService/ListAuthors \
  > "$work/out.verbose" 2>&1 || fail "a call with x-request-id failed: $(cat "$work/out.verbose")"
grep -qi "^x-request-id: grpcurl-sh-0001$" "$work/out.verbose" \
  || fail "the response does not echo x-request-id: $(cat "$work/out.verbose")"
grep -q "grpcurl-sh-0001" "$work/server.log" || fail "the server log does not name the request id"
pass "x-request-id is echoed in the response and named in the log"

fetch_metrics() {
  local url="http://127.0.0.1:$metrics_port/metrics"
  if command -v curl > /dev/null; then
    curl -fsS --max-time 5 "$url"
  else
    python3 -c 'import sys, urllib.request; sys.stdout.write(urllib.request.urlopen(sys.argv[1], timeout=5).read().decode())' "$url"
  fi
}
metrics_ok=""
for _ in $(seq 1 50); do
  if fetch_metrics > "$work/metrics" 2>> "$work/metrics.err" \
    && grep -q '^grpc_requests_total{.*AuthorService/ListAuthors' "$work/metrics"; then
    metrics_ok=yes
    break
  fi
  sleep 0.1
done
[ -n "$metrics_ok" ] || fail "--metrics-listen: no grpc_requests_total for ListAuthors at /metrics: $(cat "$work/metrics" "$work/metrics.err" 2>/dev/null)"
for metric in grpc_request_duration_seconds grpc_requests_in_flight; do
  grep -q "^$metric" "$work/metrics" || fail "--metrics-listen: no $metric at /metrics: $(cat "$work/metrics")"
done
pass "--metrics-listen: Prometheus text with grpc_requests_total, grpc_request_duration_seconds, grpc_requests_in_flight"
stop_server

echo "grpcurl.sh: all checks passed"
