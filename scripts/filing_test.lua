-- Tests of filing.lua: run with `sluice test scripts`.

test("the stages and the score go into headers", function(t)
  local r = t.run({script = "filing.lua", message = "testdata/hello.eml",
                   vars = {stages = "attachments score "}})
  t.eq(r.headers.added, {
    {"X-Sluice-Stages", "attachments score filing"},
    {"X-Sluice-Score", "0.0"},
  })
  t.eq(r.actions, {})
end)

test("alone, it notes only itself", function(t)
  local r = t.run({script = "filing.lua", raw = "Subject: x\r\n\r\nx\r\n"})
  t.contains(r.headers.added, {"X-Sluice-Stages", "filing"})
end)
