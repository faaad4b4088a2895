#!/usr/bin/env bash
# Packages both stacks offline for ENVIRONMENT (default dev), as
# `npm run package` and `npx turbo run package` (root task //#package) do:
#   .serverless/                      the source stack (sls deploy --package .serverless)
#   deploy/destination/.serverless/   the destination stack
# The region is AWS_REGION's, else each stack's default; no credentials are needed.
set -euo pipefail
cd "$(dirname "$0")/../.."
stage="${ENVIRONMENT:-dev}"
sls="$PWD/node_modules/.bin/sls"

"$sls" package --stage "$stage"
(cd deploy/destination && "$sls" package --stage "$stage")

for zip in .serverless/*.zip; do
  printf "%-36s %8d KiB\n" "$zip" $(( $(wc -c < "$zip") / 1024 ))
done
