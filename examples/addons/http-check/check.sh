#!/bin/sh
# http-check: fetch $FABRIC_WITH_URL with curl; fail unless the status is in $FABRIC_WITH_EXPECT (a JSON
# list of integers, checked against the add-on's schema before this runs). Writes {"status": N} to
# $FABRIC_OUTPUT for the tasks that need this one.
set -eu
if ! command -v curl >/dev/null 2>&1; then
  echo "http-check: curl is not installed on this agent" >&2
  exit 2
fi
url=$FABRIC_WITH_URL
expect=$(printf '%s' "${FABRIC_WITH_EXPECT:-[200]}" | tr -d '[] ')
method=${FABRIC_WITH_METHOD:-GET}
set -- --silent --show-error --output /dev/null --write-out '%{http_code}' --proto '=http,https' \
  --max-time "${FABRIC_WITH_TIMEOUT:-10}" --request "$method"
if [ "${FABRIC_WITH_INSECURE:-false}" = true ]; then set -- "$@" --insecure; fi
if ! status=$(curl "$@" --url "$url"); then
  echo "http-check: $method $url: no answer" >&2
  exit 1
fi
printf '{"status": %s}\n' "$status" >"$FABRIC_OUTPUT"
case ",$expect," in
*",$status,"*)
  echo "http-check: $method $url: $status"
  ;;
*)
  echo "http-check: $method $url: $status, expected one of $expect" >&2
  exit 1
  ;;
esac
