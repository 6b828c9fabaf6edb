-- spam: score with SpamAssassin before the 250.
local REJECT_AT = 15   -- refuse outright at or above this score

function on_data(msg)
  local r = plugin.scan("spamassassin", msg)
  if r.verdict == "spam" and r.score >= REJECT_AT then
    return reject(550, "5.7.1", string.format("message looks like spam (score %.1f)", r.score))
  end
  if r.verdict == "spam" or r.verdict == "ham" then
    msg:score(r.score, "SPAMASSASSIN", table.concat(r.symbols, ","))
    msg:set_header("X-Spam-Score", string.format("%.1f / %.1f", r.score, r.threshold))
    msg.vars.spam = (r.verdict == "spam")
  end
end
