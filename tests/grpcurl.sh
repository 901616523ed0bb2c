#!/usr/bin/env bash
# Runs the README's grpcurl examples, exactly as written but for the port,
# against the built binary, through server reflection only (no .proto files),
# and checks what each one printed. Then checks reflection v1 (with buf curl),
# a restart on the same database, and a graceful shutdown on SIGTERM.
#
# Needs: grpcurl, jq; buf for the reflection v1 check. Uses $NEWSDESK_BIN, or
# the debug build in the cargo target directory, building it if missing (so
# after changing the code, run `cargo build` or `cargo test` first).
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

database="sqlite://$work/newsdesk.db?mode=rwc"

# Starts the server on a free port and waits for its "listening on" line,
# which gives the address.
start_server() {
  : > "$work/server.log"
  RUST_LOG=info "$bin" serve --listen 127.0.0.1:0 --database-url "$database" --shutdown-grace 5s \
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

start_server
grep -q "with the sqlite database sqlite://" "$work/server.log" || fail "the start-up line does not name the database"
pass "server listening on $addr"

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
[ "$examples" -eq 14 ] || fail "expected 14 grpcurl examples in README.md, found $examples; update this script"

# Runs example N in this shell (so the variables it sets stay set), with the
# README's address swapped for the test server's; output goes to out.N.
run_example() {
  local n=$1
  sed "s/localhost:50051/$addr/g" "$work/example.$n" > "$work/run.$n"
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

run_example 1
expect_success 1
for service in newsdesk.v1.ArticleService newsdesk.v1.AuthorService grpc.health.v1.Health; do
  grep -qx "$service" "$work/out.1" || fail "example 1: 'list' does not show $service: $(out 1)"
done
pass "example 1: list shows the API, health and reflection"

run_example 2
expect_success 2
[[ "${DESK_ID:-}" =~ ^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[0-9a-f]{4}-[0-9a-f]{12}$ ]] \
  || fail "example 2: DESK_ID is not a UUIDv7: '${DESK_ID:-}'"
grpcurl -plaintext -d "{\"id\": \"$DESK_ID\"}" "$addr" newsdesk.v1.AuthorService/GetAuthor > "$work/out.desk"
jq -e '.displayName == "فريق التحرير" and .slug == "فريق-التحرير" and .kind == "AUTHOR_KIND_DESK"' \
  "$work/out.desk" > /dev/null || fail "example 2: the desk reads back wrong: $(cat "$work/out.desk")"
pass "example 2: the desk «فريق التحرير» exists with slug فريق-التحرير"

run_example 3
expect_success 3
expect 3 ".slug == \"$slug\" and .title == \"$title\" and .language == \"ar\"" "the article has the derived Arabic slug"
expect 3 ".authorIds == [\"$DESK_ID\"] and .status == \"ARTICLE_STATUS_DRAFT\" and .wordCount > 20" \
  "the article credits the desk, is a draft, and counts its words"
first_id=$(jq -r .id "$work/out.3")
cp "$work/out.3" "$work/out.3.first"
run_example 3
expect_success 3
[ "$(jq -r .id "$work/out.3")" = "$first_id" ] || fail "example 3: a retry with the same request_id made a second article"
pass "example 3: running it again returns the same article (request_id)"

run_example 4
expect_success 4
expect 4 '.title == "إصلاح العلاقات" and .slug == "إصلاح-العلاقات"' "the second story has its own slug"
second_id=$(jq -r .id "$work/out.4")

run_example 5
expect_success 5
expect 5 ".id == \"$first_id\" and .title == \"$title\"" "GetArticle by slug finds the first article"
jq -e --slurpfile created "$work/out.3.first" '.body == $created[0].body' "$work/out.5" > /dev/null \
  || fail "example 5: the body does not read back as written"
pass "example 5: the Arabic body reads back as written"

run_example 6
expect_success 6
[ -n "${TOKEN:-}" ] && [ "$TOKEN" != "null" ] || fail "example 6: page 1 gave no nextPageToken"
expect 6 "(.articles | length) == 1 and .articles[0].id == \"$first_id\" and (has(\"nextPageToken\") | not)" \
  "page 2 holds the older article and is the last page"
page1=$(grpcurl -plaintext -d '{"page_size": 1}' "$addr" newsdesk.v1.ArticleService/ListArticles | jq -r '.articles[0].id')
[ "$page1" = "$second_id" ] || fail "example 6: page 1 should hold the newest article"
pass "example 6: page 1 holds the newest article"

run_example 7
expect_success 7
expect 7 ".id == \"$first_id\" and .subtitle == \"محادثات استمرت أكثر من أربع ساعات\"" "the mask changed the subtitle"
expect 7 ".title == \"$title\" and .slug == \"$slug\" and .authorIds == [\"$DESK_ID\"]" "the mask left every other field alone"

run_example 8
[ "$example_status" -ne 0 ] || fail "example 8: an empty title was accepted"
grep -q "Code: InvalidArgument" "$work/out.8" || fail "example 8: not INVALID_ARGUMENT: $(out 8)"
grep -q '"field":"article.title"' "$work/out.8" || fail "example 8: the BadRequest does not name article.title: $(out 8)"
pass "example 8: an empty title is INVALID_ARGUMENT naming article.title"

run_example 9
expect_success 9
expect 9 ".id == \"$first_id\" and .status == \"ARTICLE_STATUS_PUBLISHED\" and (.publishTime | length) > 0" \
  "PublishArticle makes the article live"

run_example 10
expect_success 10
expect_all 10 ".[0].hasUnpublishedChanges == true and .[0].title == \"ويتكوف وبوتين يبحثان الحرب في أوكرانيا\"" \
  "an edit to the live story waits in the working copy"
expect_all 10 ".[1].title == \"$title\" and .[1].status == \"ARTICLE_STATUS_PUBLISHED\"" \
  "the published view still shows what readers saw"

run_example 11
expect_success 11
expect_all 11 '[.[0].revisions[].action] == ["REVISION_ACTION_UPDATED", "REVISION_ACTION_PUBLISHED", "REVISION_ACTION_UPDATED", "REVISION_ACTION_CREATED"]' \
  "the history lists every change, newest first"
expect_all 11 "(.[1].events | length) == 1 and .[1].events[0].type == \"article.published\" and .[1].events[0].articleId == \"$first_id\"" \
  "the change feed announced the publication once"

run_example 12
expect_success 12
expect_all 12 '.[0].status == "COMMENT_STATUS_APPROVED" and .[0].bodyHtml == "<p>شكرا على التغطية.<br>هل من جديد؟</p>" and (.[0] | has("authorEmail") | not)' \
  "the comment is approved and rendered as safe HTML"
expect_all 12 "(.[1].comments | length) == 1 and .[1].comments[0].authorName == \"قارئ من عمّان\"" \
  "the thread lists it"

run_example 13
expect_success 13
expect_all 13 '.[0].counted == true and (.[1] | has("counted") | not)' "a repeat from the same browser does not count"
expect_all 13 '.[2].total == "1" and .[2].byChannel[0].channel == "SHARE_CHANNEL_WHATSAPP"' "the stats count one WhatsApp share"

run_example 14
expect_success 14
expect 14 '.status == "SERVING"' "health is SERVING"

if command -v buf > /dev/null; then
  buf curl --protocol grpc --http2-prior-knowledge --reflect-protocol grpc-v1 --list-services "http://$addr" \
    > "$work/out.v1" 2>&1 || fail "buf curl over reflection v1 failed: $(cat "$work/out.v1")"
  grep -qx "newsdesk.v1.ArticleService" "$work/out.v1" || fail "reflection v1 does not list the API: $(cat "$work/out.v1")"
  pass "reflection v1 lists the API (buf curl)"
else
  echo "grpcurl.sh: note: buf not installed; reflection v1 not checked (grpcurl 1.8 uses v1alpha)"
fi

stop_server
pass "SIGTERM: graceful shutdown, exit status 0"

# What was acknowledged survives a restart, and start-up migrations are idempotent.
start_server
count=$(grpcurl -plaintext -d '{}' "$addr" newsdesk.v1.ArticleService/ListArticles | jq '.articles | length')
[ "$count" -eq 2 ] || fail "after a restart, ListArticles shows $count articles instead of 2"
pass "restart on the same database: both articles are there"
stop_server

echo "grpcurl.sh: all checks passed"
