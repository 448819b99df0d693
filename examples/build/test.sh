#!/bin/sh
# One shard of the tests: `./test.sh --shard N` checks the greeting of the names in shard N.
set -eu
[ "$1" = "--shard" ] || { echo "usage: test.sh --shard N" >&2; exit 2; }
names="alice bob carol"
name=$(echo "$names" | cut -d' ' -f$(($2 + 1)))
. ./src/greet.sh
got=$(greet "$name")
[ "$got" = "hello, $name" ] || { echo "shard $2: got \"$got\"" >&2; exit 1; }
echo "shard $2: ok ($name)"
