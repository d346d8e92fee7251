#!/usr/bin/env bash
# The mutation check on the files a change touches (issue 17): the files of
# stryker.config.json's `mutate` list that differ from the merge base, mutated against
# their unit tests, each of which must score at least 90 %. Skipped when none changed.
# The full run is `npm run mutate`.
#
# The base: $EGG_MUTATION_BASE if set; else the merge base with main (origin/main first);
# on main itself (a fresh clone in CI), the last commit's parent, so a merge is checked
# against the main it joined. Incremental mode starts from the committed
# test/mutation/stryker-incremental.json (a copy: this run never rewrites it), so only
# mutants in code or tests that changed since the last `npm run mutate` are run again.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PWD/node_modules/.bin:$PATH"

head="$(git rev-parse HEAD)"
base="${EGG_MUTATION_BASE:-}"
if [ -z "$base" ]; then
  for ref in origin/main main; do
    if git rev-parse -q --verify "$ref^{commit}" >/dev/null; then
      base="$(git merge-base HEAD "$ref")"
      break
    fi
  done
  if [ -z "$base" ] || [ "$base" = "$head" ]; then base="$(git rev-parse -q --verify 'HEAD^' || true)"; fi
fi
if [ -z "$base" ]; then
  echo "mutation: no base commit to compare with; skipped"
  exit 0
fi

mapfile -t patterns < <(node -e 'for (const p of require("./stryker.config.json").mutate) console.log(p)')
mapfile -t changed < <(git diff --name-only --diff-filter=d "$base" -- "${patterns[@]}")
if [ "${#changed[@]}" -eq 0 ]; then
  echo "mutation: no mutated file changed since $(git rev-parse --short "$base"); skipped"
  exit 0
fi
echo "mutation: ${changed[*]} changed since $(git rev-parse --short "$base")"

mkdir -p .cache/mutation
incremental=.cache/mutation/changed-incremental.json
if [ -f test/mutation/stryker-incremental.json ]; then cp test/mutation/stryker-incremental.json "$incremental"; else rm -f "$incremental"; fi
list="$(IFS=,; echo "${changed[*]}")"
# Bounded: a change whose mutants are not in the incremental file yet runs them all.
if ! timeout "${EGG_MUTATION_TIMEOUT:-900}" stryker run --mutate "$list" --incrementalFile "$incremental" --reporters clear-text,json >.cache/mutation/changed.log 2>&1; then
  tail -n 40 .cache/mutation/changed.log >&2
  echo "mutation: Stryker failed or took longer than ${EGG_MUTATION_TIMEOUT:-900} s; run \`npm run mutate\` and commit test/mutation/stryker-incremental.json" >&2
  exit 1
fi
node --import ./test/support/ts-hooks.mjs scripts/mutation-score.ts --min 90 "${changed[@]}"
