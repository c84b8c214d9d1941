#!/usr/bin/env bash
# Daily cost report for cron: last 7 days as HTML + CSV under $REPORT_DIR, a summary to a chat webhook.
#
#   SKYCTL_COST_WEBHOOK  Slack-compatible incoming webhook URL (optional; no post without it)
#   REPORT_DIR           where reports go (default ~/.skyctl/reports); the last $KEEP days are kept
#   SKYCTL_HOME / SKYCTL_DB_URL  the state database the controllers write (default ~/.skyctl/state.db)
#
# Exit codes are skyctl's: 0 ok, 1 failure (e.g. database unreadable), 2 bad input, 3 report written
# but the webhook post failed. cron mails anything this prints; skyctl itself prints nothing on success
# (--quiet), so a mail means something needs a look.
set -euo pipefail

REPORT_DIR=${REPORT_DIR:-$HOME/.skyctl/reports}
KEEP=${KEEP:-30}
SINCE=${SINCE:-7d}
mkdir -p "$REPORT_DIR"
day=$(date -u +%F)

args=(cost-report --since "$SINCE" --quiet
      --html "$REPORT_DIR/cost-$day.html" --csv "$REPORT_DIR/cost-$day.csv")
if [[ -n "${SKYCTL_COST_WEBHOOK:-}" ]]; then
  args+=(--notify "$SKYCTL_COST_WEBHOOK")
fi

# One run at a time: a slow run (a hung webhook retrying) never overlaps the next one.
exec 9>"$REPORT_DIR/.lock"
if ! flock -n 9; then
  echo "cost-report: the previous run is still going; skipped" >&2
  exit 0
fi

rc=0
skyctl "${args[@]}" || rc=$?
case $rc in
  0) ;;
  3) echo "cost-report: report written to $REPORT_DIR/cost-$day.html, but the webhook post failed" >&2 ;;
  *) echo "cost-report: failed with exit code $rc" >&2 ;;
esac

# Keep the last $KEEP reports of each kind.
for ext in html csv; do
  ls -1t "$REPORT_DIR"/cost-*."$ext" 2>/dev/null | tail -n +"$((KEEP + 1))" | xargs -r rm -f --
done
exit "$rc"
