-- filing: after the message is queued, note the stages it went through and
-- file likely spam into Junk. Everything else goes to the INBOX (implicit keep).

local JUNK_SCORE = 5

function on_queue(msg)
  local stages = (msg.vars.stages or "") .. "filing"
  msg:set_header("X-Sluice-Stages", stages)
  local score = msg:score()
  msg:set_header("X-Sluice-Score", string.format("%.1f", score))
  if score >= JUNK_SCORE then
    msg:fileinto("Junk")
  end
end
