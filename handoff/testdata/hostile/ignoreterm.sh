#!/bin/sh
# Ignores SIGTERM and SIGINT, closes its output, never answers.
# A message with "Subject: normal" gets a normal answer (the message back).
grep -q "^Subject: normal" "$1" && exec cat "$1"
trap '' TERM INT HUP
exec >&- 2>&-
sleep 3600
