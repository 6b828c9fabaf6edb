#!/bin/sh
# Exits at once, leaving a grandchild that holds standard output open.
# A message with "Subject: normal" gets a normal answer (the message back).
grep -q "^Subject: normal" "$1" && exec cat "$1"
(sleep 3600 >&1 &)
exit 0
