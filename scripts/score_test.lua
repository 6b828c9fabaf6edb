-- Tests of score.lua: run with `sluice test scripts`.

local function symbols(r)
  local names = {}
  for _, s in ipairs(r.symbols) do
    names[#names + 1] = s.name
  end
  table.sort(names)
  return names
end

test("a well-formed message scores nothing", function(t)
  local r = t.run({script = "score.lua", message = "testdata/hello.eml"})
  t.eq(r.verdict, "accept")
  t.eq(r.score, 0)
  t.eq(r.symbols, {})
end)

test("missing headers and a shouting subject add points", function(t)
  local r = t.run({script = "score.lua", message = "testdata/shouting.eml"})
  t.eq(symbols(r), {"MISSING_DATE", "MISSING_MID", "SUBJECT_ALL_CAPS", "UPSTREAM_SPAM"})
  t.eq(r.score, 8.5)
  t.contains(r.symbols, {name = "UPSTREAM_SPAM", points = 5, stage = "score"})
end)

test("no header at all", function(t)
  local r = t.run({script = "score.lua", raw = "\r\nbody only\r\n"})
  t.eq(symbols(r), {"MISSING_DATE", "MISSING_FROM", "MISSING_MID", "MISSING_SUBJECT"})
  t.eq(r.score, 5)
end)

test("score never refuses", function(t)
  local r = t.run({script = "score.lua", message = "testdata/shouting.eml"})
  t.eq(r.verdict, "accept")
  t.eq(r.stages[1].verdict, "continue")
end)
