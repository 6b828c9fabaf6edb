-- The default pipeline as a whole (attachments, score, filing): with no
-- sluice.toml beside this folder, t.run without script runs the embedded
-- default scripts.

test("a good message goes to the INBOX", function(t)
  local r = t.run({message = "testdata/hello.eml", from = "alice@example.org", rcpt = {"bob@localhost"}})
  t.eq(r.verdict, "accept")
  local trace = {}
  for _, s in ipairs(r.stages) do
    trace[#trace + 1] = s.hook .. " " .. s.name .. " " .. s.verdict
  end
  t.eq(trace, {"on_data attachments continue", "on_queue score continue", "on_queue filing continue"})
  t.contains(r.headers.added, {"X-Sluice-Stages", "attachments score filing"})
  t.eq(r.actions, {})
end)

test("likely spam is filed into Junk", function(t)
  local r = t.run({message = "testdata/shouting.eml", rcpt = "bob@localhost"})
  t.eq(r.verdict, "accept")
  t.contains(r.headers.added, {"X-Sluice-Score", "8.5"})
  t.contains(r.actions, {kind = "fileinto", folder = "Junk", stage = "filing"})
end)

test("an executable stops the pipeline before the 250", function(t)
  local r = t.run({message = "testdata/invoice-exe.eml"})
  t.eq(r.verdict, "reject")
  t.eq(#r.stages, 1)
  t.eq(r.headers.added, {})
end)
