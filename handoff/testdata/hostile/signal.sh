#!/bin/sh
# Dies by a signal.
# A message with "Subject: normal" gets a normal answer (the message back).
grep -q "^Subject: normal" "$1" && exec cat "$1"
kill -9 $$
