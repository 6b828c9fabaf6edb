-- antivirus: refuse infected messages before the 250.
--
-- Set FILTER to "clamscan" to use the exec filter instead of clamd.
local FILTER = "clamav"

function on_data(msg)
  local r = plugin.scan(FILTER, msg)
  if r.verdict == "infected" then
    log.warn("virus refused", {name = r.name, from = msg.from})
    return reject(554, "5.7.1", "virus found: " .. r.name)
  end
  -- "error" and "timeout" need no code here: the filter's on_error
  -- (tempfail) applies even if a script forgets them.
  msg:add_header("X-Virus-Scanned", "sluice+" .. FILTER .. " (" .. r.verdict .. ")")
end
