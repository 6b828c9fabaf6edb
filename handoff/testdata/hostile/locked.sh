#!/bin/sh
# Leaves a folder it took every permission away from.
# A message with "Subject: normal" gets a normal answer (the message back).
grep -q "^Subject: normal" "$1" && exec cat "$1"
mkdir locked && echo x > locked/f && chmod 000 locked
chmod 000 .
