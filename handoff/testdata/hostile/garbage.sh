#!/bin/sh
# Rewrites the message into garbage.
# A message with "Subject: normal" gets a normal answer (the message back).
grep -q "^Subject: normal" "$1" && exec cat "$1"
printf '\0\0garbage'
