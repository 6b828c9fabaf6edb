-- filing: likely spam goes to Junk, after the 250.
function on_queue(msg)
  if msg.vars.spam then
    msg:set_header("X-Spam-Flag", "YES")
    msg:fileinto("Junk")
  end
end
