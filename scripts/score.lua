-- score: a few cheap header checks that add points; filing.lua files
-- messages at or above the threshold into Junk.
--
-- It never refuses a message, so it runs after the 250, from the queue
-- (on_queue, before filing): what cannot change the SMTP reply stays off
-- the sender's wait. A rule that refuses above some score belongs in
-- on_data instead.

function on_queue(msg)
  msg.vars.stages = (msg.vars.stages or "") .. "score "
  local subject = msg:subject()
  if subject == "" then
    msg:score(1.0, "MISSING_SUBJECT", "no Subject header")
  elseif #subject > 10 and subject == subject:upper() and subject:match("%a") then
    msg:score(1.5, "SUBJECT_ALL_CAPS", "subject in capitals")
  end
  if msg:header("Date") == "" then
    msg:score(1.0, "MISSING_DATE", "no Date header")
  end
  if msg:header("Message-ID") == "" then
    msg:score(1.0, "MISSING_MID", "no Message-ID header")
  end
  if re.match(msg:header("From"), [[(?i)^\s*$]]) then
    msg:score(2.0, "MISSING_FROM", "no From header")
  end
  local spam = msg:header("X-Spam-Flag")
  if spam:upper() == "YES" then
    msg:score(5.0, "UPSTREAM_SPAM", "flagged by an upstream filter")
  end
end
