#!/usr/bin/env bash
# check-dist (as in actions/typescript-action): rebuild the Action's bundle and fail when
# the committed dist/ differs, or when the bundle cannot load.
set -euo pipefail
cd "$(dirname "$0")/.."

npm run --silent package

if ! git diff --quiet --exit-code -- dist/ || [ -n "$(git ls-files --others --exclude-standard -- dist/)" ]; then
  git status --short -- dist/
  git diff --stat -- dist/
  echo "dist/ is stale: run \`npm run package\` and commit dist/." >&2
  exit 1
fi

# Smoke: each bundle loads and fails cleanly on missing inputs (no unresolved module, no crash).
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
: > "$tmp/env" ; : > "$tmp/state"
set +e
out="$(env -i PATH="$PATH" GITHUB_ENV="$tmp/env" GITHUB_STATE="$tmp/state" RUNNER_TEMP="$tmp" node dist/main/index.js 2>&1)"
code=$?
set -e
if [ "$code" -ne 1 ] || [[ "$out" != *'input "role-to-assume" is required with backend "aws"'* ]]; then
  echo "dist/main/index.js did not load and fail on the missing input as expected (exit $code):" >&2
  echo "$out" >&2
  exit 1
fi
out="$(env -i PATH="$PATH" RUNNER_TEMP="$tmp" node dist/post/index.js 2>&1)"
if [[ "$out" != *'recorded nothing'* ]]; then
  echo "dist/post/index.js did not load as expected:" >&2
  echo "$out" >&2
  exit 1
fi
node --input-type=module -e "const { handler } = await import('./dist/rotator/index.js'); if (typeof handler !== 'function') throw new Error('dist/rotator exports no handler')" ||
  { echo "dist/rotator/index.js does not load" >&2; exit 1; }
# Every lazily loaded chunk parses and links.
for chunk in dist/main/*.index.js dist/post/*.index.js dist/rotator/*.index.js; do
  [ -e "$chunk" ] || continue
  node --input-type=module -e "await import('./$chunk')" || { echo "$chunk does not load" >&2; exit 1; }
done
echo "dist/ is up to date and loads."
