-- Tests of antivirus.lua: run with `sluice test examples/clamav`. ClamAV is
-- not needed: t.filter answers for the "clamav" filter of ../sluice.toml.

local function scan(t, file)
  return t.run({script = "antivirus.lua", message = file, from = "mallory@example.net", rcpt = {"bob@example.com"}})
end

test("a virus is refused before the 250", function(t)
  t.filter("clamav", {verdict = "infected", name = "Eicar-Test-Signature"})
  local r = scan(t, "testdata/infected.eml")
  t.eq(r.verdict, "reject")
  t.eq(r.code, 554)
  t.eq(r.enhanced, "5.7.1")
  t.eq(r.text, "virus found: Eicar-Test-Signature")
  t.eq(r.headers.added, {})
end)

test("a clean message is marked as scanned", function(t)
  t.filter("clamav", {verdict = "clean"})
  local r = scan(t, "testdata/clean.eml")
  t.eq(r.verdict, "accept")
  t.eq(r.headers.added, {{"X-Virus-Scanned", "sluice+clamav (clean)"}})
end)

test("clamd down: the filter's on_error (tempfail) applies", function(t)
  t.filter("clamav", {verdict = "error", error = "clamd: connect: no such file"})
  local r = scan(t, "testdata/clean.eml")
  t.eq(r.verdict, "tempfail")
  t.eq(r.code, 451)
  t.eq(r.stages[1].verdict, "tempfail")
end)

test("a scan that overruns is not a clean one", function(t)
  t.filter("clamav", {verdict = "timeout"})
  t.eq(scan(t, "testdata/infected.eml").verdict, "tempfail")
end)

test("the configured pipeline runs the same stage", function(t)
  t.filter("clamav", {verdict = "infected", name = "Win.Test.EICAR_HDB-1"})
  local r = t.run({message = "testdata/infected.eml"})
  t.eq(r.verdict, "reject")
  t.eq(#r.stages, 1)
  t.eq(r.stages[1].name, "antivirus")
end)

test("clamd skipped by its open breaker: still not accepted unchecked", function(t)
  t.filter("clamav", {breaker = true})
  local r = scan(t, "testdata/clean.eml")
  t.eq(r.verdict, "tempfail")
  t.eq(r.stages[1].verdict, "tempfail")
end)
